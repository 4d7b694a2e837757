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
        disk_mb=job_resource("download_source", "disk_mb"),
    params:
        source=job_param("download_source", "source"),
        sha256=job_param("download_source", "sha256"),
        md5=job_param("download_source", "md5"),
        lock_file=LAYOUT.lock_file,
        lock_source=job_param("download_source", "lock_source"),
        retry_seconds=job_param("download_source", "retry_seconds"),
        timeout=job_param("download_source", "timeout"),
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
        disk_mb=job_resource("extract_source", "disk_mb"),
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
    threads: job_resource("prepare_synthetic", "threads")
    resources:
        mem_mb=job_resource("prepare_synthetic", "mem_mb"),
        runtime=job_resource("prepare_synthetic", "runtime"),
    params:
        kind=job_param("prepare_synthetic", "kind"),
        options=job_param("prepare_synthetic", "options"),
    script:
        "../../scripts/prepare.py"


rule prepare_dataset:
    input:
        unpack(job_inputs("prepare_dataset")),
    output:
        meta=f"{DATASET_DIR}/data/meta.json",
        classes=f"{DATASET_DIR}/data/classes.txt",
    log:
        f"{DATASET_DIR}/logs/prepare.log",
    wildcard_constraints:
        dataset=datasets_planting_hierarchy(False),
    conda:
        ENV_TORCH
    threads: job_resource("prepare_dataset", "threads")
    resources:
        mem_mb=job_resource("prepare_dataset", "mem_mb"),
        runtime=job_resource("prepare_dataset", "runtime"),
        disk_mb=job_resource("prepare_dataset", "disk_mb"),
    params:
        kind=job_param("prepare_dataset", "kind"),
        options=job_param("prepare_dataset", "options"),
        downloads=job_param("prepare_dataset", "downloads"),
    script:
        "../../scripts/prepare.py"
