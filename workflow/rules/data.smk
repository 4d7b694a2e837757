# Raw downloads and their extraction live under the data root (config `data_root`), prepared
# datasets under results/<study>/{dataset}/data/. meta.json is written last by every preparation;
# downstream rules depend on it. Converted images are not declared outputs, so a killed
# preparation resumes where it stopped.


rule download_source:
    output:
        f"{DATA_ROOT}/downloads/{{dataset}}/{{filename}}",
    log:
        f"{DATA_ROOT}/logs/download/{{dataset}}/{{filename}}.log",
    # the download helper retries (backoff within downloads.retry_seconds); 0 here also
    # overrides a profile's global retries, which would multiply its attempts
    retries: 0
    localrule: True
    conda:
        ENV_DATA
    resources:
        mem_mb=1000,
        runtime=24 * 60,
        disk_mb=source_disk_mb,
    params:
        source=source_url,
        sha256=source_sha256,
        md5=source_md5,
        lock_file=LOCK_FILE,
        lock_source=source_key,
        retry_seconds=DOWNLOAD_RETRY_SECONDS,
        timeout=DOWNLOAD_TIMEOUT,
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
        ENV_DATA
    resources:
        mem_mb=1000,
        runtime=12 * 60,
        disk_mb=extraction_disk_mb,
    script:
        "../../scripts/extract.py"


# A kind that plants its own hierarchy (synthetic) writes it with the data.
rule prepare_synthetic:
    output:
        meta=f"{DATASET_DIR}/data/meta.json",
        classes=f"{DATASET_DIR}/data/classes.txt",
        hierarchy=f"{DATASET_DIR}/data/hierarchy.tsv",
    log:
        f"{DATASET_DIR}/logs/prepare.log",
    wildcard_constraints:
        dataset=datasets_planting_hierarchy(),
    conda:
        ENV_TORCH
    threads: prepare_threads
    resources:
        mem_mb=prepare_mem_mb,
        runtime=prepare_runtime,
    params:
        kind=dataset_kind,
        options=dataset_options,
    script:
        "../../scripts/prepare.py"


rule prepare_dataset:
    input:
        unpack(prepare_inputs),
        hierarchy=hierarchy_file("tsv"),
    output:
        meta=f"{DATASET_DIR}/data/meta.json",
        classes=f"{DATASET_DIR}/data/classes.txt",
    log:
        f"{DATASET_DIR}/logs/prepare.log",
    wildcard_constraints:
        dataset=datasets_planting_hierarchy(False),
    conda:
        ENV_TORCH
    threads: prepare_threads
    resources:
        mem_mb=prepare_mem_mb,
        runtime=prepare_runtime,
        disk_mb=prepare_disk_mb,
    params:
        kind=dataset_kind,
        options=dataset_options,
        downloads=prepare_downloads,
    script:
        "../../scripts/prepare.py"
