"""`corpusmill inspect RUN --stage dedup --reason near_duplicate`: each sampled removed document
beside the document that was kept in its place, with the exact Jaccard of their shingle sets
(computed here from the two texts, with the run's shingle settings)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from rich.columns import Columns
from rich.text import Text

from pipelines.dedup.config import DedupConfig
from pipelines.dedup.jaccard import jaccard, shingle_set
from pipelines.dedup.shingles import shingle_hashes

REASONS = ("exact_duplicate", "near_duplicate")


def run_config(fs, root: str) -> DedupConfig:
    path = f"{root.rstrip('/')}/recipe.resolved.yaml"
    section = (yaml.safe_load(fs.cat_file(path)) or {}).get("dedup") if fs.exists(path) else None
    return DedupConfig.model_validate(section) if section is not None else DedupConfig()


def kept_rows(fs, stage_dir: str, sources: list[str], kept_ids: set[str]) -> dict[str, dict]:
    """The kept documents with these ids, by id (reads only the id column of parts without one)."""
    found: dict[str, dict] = {}
    for source in sources:
        for path in sorted(fs.glob(f"{stage_dir}/{source}/part-*.parquet")):
            ids = pq.read_table(path, filesystem=fs, columns=["id"]).column("id")
            mask = pc.is_in(ids, value_set=pa.array(sorted(kept_ids), pa.string()))
            if pc.any(mask).as_py():
                table = pq.read_table(path, filesystem=fs).filter(mask)
                found.update({row["id"]: row for row in table.to_pylist()})
    return found


def pair_renderables(fs, root: str, stage_dir: str, sources: list[str], removed: list[dict], panel) -> list:
    config = run_config(fs, root)
    kept = kept_rows(fs, stage_dir, sources, {row["dedup_kept_id"] for row in removed})
    out = []
    for row in removed:
        partner = kept.get(row["dedup_kept_id"])
        if partner is None:
            out.append(Text(f"{row['id']}: kept document {row['dedup_kept_id']} not found in {stage_dir}", style="red"))
            continue
        similarity = jaccard(*(shingle_set(shingle_hashes(r["text"] or "", shingle=config.shingle, ngram=config.ngram))
                              for r in (row, partner)))
        out.append(Text(f"{row['drop_reason']}: removed {row['id']} ({row['source']}, {len(row['text'] or '')} chars) "
                        f"~ kept {partner['id']} ({partner['source']}, {len(partner['text'] or '')} chars): "
                        f"Jaccard {similarity:.4f} of {config.ngram}-{config.shingle} shingles; cluster of "
                        f"{row['dedup_cluster_size']}", style="bold"))
        out.append(Columns([panel(row), panel(partner)], equal=True, expand=True))
    return out
