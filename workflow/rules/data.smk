# Raw downloads and their extraction live under the data root (config `data_root`), prepared
# datasets under results/{dataset}/data/. meta.json is written last by every preparation;
# downstream rules depend on it. Converted images are not declared outputs, so a killed
# preparation resumes where it stopped.


rule download_source:
    output:
        f"{DATA_ROOT}/downloads/{{dataset}}/{{filename}}",
    log:
        f"{DATA_ROOT}/logs/download/{{dataset}}/{{filename}}.log",
    retries: 2
    localrule: True
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=24 * 60,
        disk_mb=lambda w: source_disk_mb(w.dataset, w.filename),
    params:
        source=lambda w: source_named(w.dataset, w.filename).url,
        sha256=lambda w: source_named(w.dataset, w.filename).sha256,
        md5=lambda w: source_named(w.dataset, w.filename).md5,
        lock_file=f"{DATA_ROOT}/downloads.lock.yaml",
    script:
        "../../scripts/download.py"


rule extract_source:
    input:
        f"{DATA_ROOT}/downloads/{{dataset}}/{{filename}}",
    output:
        directory(f"{DATA_ROOT}/extracted/{{dataset}}/{{filename}}.d"),
    log:
        f"{DATA_ROOT}/logs/extract/{{dataset}}/{{filename}}.log",
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=12 * 60,
        disk_mb=lambda w: 2 * source_disk_mb(w.dataset, w.filename),
    script:
        "../../scripts/extract.py"


rule prepare_synthetic:
    output:
        multiext(
            "results/{dataset}/data/",
            "train.npz",
            "val.npz",
            "test.npz",
            "classes.txt",
            "meta.json",
            "hierarchy.tsv",
        ),
    log:
        "results/{dataset}/logs/prepare.log",
    wildcard_constraints:
        dataset=datasets_of_kind("synthetic"),
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lambda w: config["datasets"][w.dataset].get("synthetic", {}),
    script:
        "../../scripts/prepare_synthetic.py"


rule prepare_cifar100:
    input:
        extracted=lambda w: extracted(w.dataset, "archive"),
        hierarchy="results/{dataset}/hierarchy/hierarchy.tsv",
    output:
        multiext(
            "results/{dataset}/data/",
            "train.npz",
            "val.npz",
            "test.npz",
            "classes.txt",
            "meta.json",
        ),
    log:
        "results/{dataset}/logs/prepare.log",
    wildcard_constraints:
        dataset=datasets_of_kind("cifar100"),
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        expected=lambda w: expected_counts(w.dataset),
    script:
        "../../scripts/prepare_cifar100.py"


rule prepare_fgvc_aircraft:
    input:
        extracted=lambda w: extracted(w.dataset, "archive"),
        hierarchy="results/{dataset}/hierarchy/hierarchy.tsv",
    output:
        multiext(
            "results/{dataset}/data/",
            "train.csv",
            "val.csv",
            "test.csv",
            "classes.txt",
            "meta.json",
        ),
    log:
        "results/{dataset}/logs/prepare.log",
    wildcard_constraints:
        dataset=datasets_of_kind("fgvc_aircraft"),
    conda:
        ENV
    threads: 8
    resources:
        mem_mb=4000,
        runtime=60,
        disk_mb=5000,
    params:
        expected=lambda w: expected_counts(w.dataset),
    script:
        "../../scripts/prepare_fgvc_aircraft.py"


rule prepare_inat19:
    input:
        images=lambda w: extracted(w.dataset, "images"),
        splits=lambda w: extracted(w.dataset, "splits"),
        hierarchy="results/{dataset}/hierarchy/hierarchy.tsv",
    output:
        multiext(
            "results/{dataset}/data/",
            "train.csv",
            "val.csv",
            "test.csv",
            "classes.txt",
            "meta.json",
        ),
    log:
        "results/{dataset}/logs/prepare.log",
    wildcard_constraints:
        dataset=datasets_of_kind("inat19"),
    conda:
        ENV
    threads: 16
    resources:
        mem_mb=8000,
        runtime=12 * 60,
        disk_mb=30000,
    params:
        expected=lambda w: expected_counts(w.dataset),
        splits_digest=lambda w: config["datasets"][w.dataset].get(
            "splits_digest", "default"
        ),
    script:
        "../../scripts/prepare_inat19.py"


rule prepare_tiered_imagenet:
    input:
        unpack(imagenet_inputs),
        splits=lambda w: extracted(w.dataset, "splits"),
        hierarchy="results/{dataset}/hierarchy/hierarchy.tsv",
    output:
        multiext(
            "results/{dataset}/data/",
            "train.csv",
            "val.csv",
            "test.csv",
            "classes.txt",
            "meta.json",
        ),
    log:
        "results/{dataset}/logs/prepare.log",
    wildcard_constraints:
        dataset=datasets_of_kind("tiered_imagenet"),
    conda:
        ENV
    threads: 16
    resources:
        mem_mb=8000,
        runtime=24 * 60,
        disk_mb=60000,
    params:
        expected=lambda w: expected_counts(w.dataset),
        splits_digest=lambda w: config["datasets"][w.dataset].get(
            "splits_digest", "default"
        ),
    script:
        "../../scripts/prepare_tiered_imagenet.py"


rule prepare_folder:
    input:
        folder=lambda w: config["datasets"][w.dataset]["folder"],
        hierarchy="results/{dataset}/hierarchy/hierarchy.tsv",
    output:
        multiext(
            "results/{dataset}/data/",
            "train.csv",
            "val.csv",
            "test.csv",
            "classes.txt",
            "meta.json",
        ),
    log:
        "results/{dataset}/logs/prepare.log",
    wildcard_constraints:
        dataset=datasets_of_kind("folder"),
    conda:
        ENV
    threads: 8
    resources:
        mem_mb=4000,
        runtime=6 * 60,
    params:
        transform=lambda w: config["datasets"][w.dataset].get("transform", "imagenet"),
        resize=lambda w: config["datasets"][w.dataset].get("resize"),
        input_size=lambda w: config["datasets"][w.dataset].get("input_size", 224),
    script:
        "../../scripts/prepare_folder.py"
