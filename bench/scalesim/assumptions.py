"""What bench/scale assumes about AWS: every figure is a field of ``Assumptions``, set by a flag
(--list-page-ms 80) or a key of --assumptions FILE, with the template's own defaults."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from s3fanout.copying.limit import DEFAULT_CONCURRENCY
from s3fanout.job import DEFAULT_RANGES
from s3fanout.lister import DEFAULT_STOP_MARGIN_MS

ROOT = Path(__file__).resolve().parents[2]


def _template_defaults() -> dict[str, int]:
    """Parameter defaults and function timeouts from template.yaml (CloudFormation tags ignored)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    params = {name: p.get("Default") for name, p in template["Parameters"].items()}
    resources = template["Resources"]
    return {
        "list_max_concurrency": int(params["ListMaxConcurrency"]),
        "copy_max_concurrency": int(params["CopyMaxConcurrency"]),
        "copy_batch_size": int(params["CopyBatchSize"]),
        "copy_concurrency": int(params.get("CopyConcurrency") or DEFAULT_CONCURRENCY),
        "lister_timeout_s": int(resources["ListObjectsFunction"]["Properties"]["Timeout"]),
        "copier_timeout_s": int(resources["CopyObjectsFunction"]["Properties"]["Timeout"]),
    }


_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. 100KiB, 4MB)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


def object_size_mean(spec: str) -> float:
    """Mean object size of a distribution: SIZE (all objects the same) or lognormal:MEDIAN:SIGMA."""
    if spec.startswith("lognormal:"):
        _, median, sigma = spec.split(":")
        return parse_bytes(median) * math.exp(float(sigma) ** 2 / 2)
    return float(parse_bytes(spec))


@dataclass
class Assumptions:
    """What the simulation assumes. Each is a flag (--list-page-ms 80) or a key of --assumptions FILE."""

    seed_ranges: int = DEFAULT_RANGES  # python -m seed --ranges default
    list_page_ms: int = 80  # one ListObjectsV2 page of 1,000 keys
    probe_ms: int = 80  # one ListObjectsV2 with MaxKeys=1 (a survey probe)
    sqs_send_ms: int = 0  # SendMessageBatch latency added to a lister per page (0: left out)
    compare: bool = True  # list the destination too (empty: one LIST per listing started)
    copy_base_ms: float = 30.0  # one CopyObject: base latency ...
    copy_mb_per_s: float = 100.0  # ... plus size / this rate (MB = 10^6 bytes)
    object_size: str = "100KiB"  # SIZE, or lognormal:MEDIAN:SIGMA (its mean is used)
    copy_concurrency: int = DEFAULT_CONCURRENCY  # copies in flight per copier (per record)
    copy_batch_size: int = 10  # CopyBatchSize: records per copier invocation
    list_max_concurrency: int = 50  # ListMaxConcurrency
    copy_max_concurrency: int = 100  # CopyMaxConcurrency
    esm_initial_concurrency: int = 5  # executions an SQS event source starts with
    esm_scale_per_minute: int = 300  # executions it adds per minute while messages wait
    lister_timeout_s: int = 900
    copier_timeout_s: int = 300
    stop_margin_ms: int = DEFAULT_STOP_MARGIN_MS
    partition_writes_per_s: float = 3500.0  # PUT/COPY per second per partition (0: no limit)
    copy_queue_order: str = "fifo"  # fifo (SQS's best-effort order) or random
    copy_spread: bool = True  # listers delay copy batches by a share of the backlog (copyspread.py)
    copier_records: str = "concurrent"  # a copier's records at once, sharing its copies in flight (copy_objects), or "sequential"

    @classmethod
    def defaults(cls) -> Assumptions:
        return cls(**_template_defaults())

    def copy_ms(self) -> float:
        return self.copy_base_ms + object_size_mean(self.object_size) / (self.copy_mb_per_s * 1e6) * 1000
