"""Rule score_classifier: a pretrained classifier's scores (logits) on every test image, each
through its own published preprocessing (haframe.pretrained)."""

import time
from pathlib import Path

import numpy as np

from haframe.data.prepared import read_classes
from haframe.evaluate import Scores
from haframe.logs import log_to
from haframe.models.classifiers import classifier
from haframe.pretrained import score_classifier
from haframe.runtime import set_threads

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    record = classifier(p.model)
    workers = p.loader["workers"]
    set_threads(snakemake.threads, workers)
    started = time.perf_counter()
    logits, labels = score_classifier(
        record, snakemake.input.weights, snakemake.input.meta, **p.evaluation, workers=workers, log=log
    )
    Scores(
        logits,
        labels.astype(np.int64),
        np.array(read_classes(Path(snakemake.input.meta).with_name("classes.txt"))),
        {"model": p.model, "split": "test", "ranked_by": "logits", "preprocessing": record.preprocessing},
    ).save(snakemake.output[0])
    log(f"{p.model}: {len(labels)} images scored in {time.perf_counter() - started:.1f} s")
