"""The run's JSONL log (one object per line: "kind" is "train" or "eval") and optional TensorBoard.

On resume the log is cut back to the checkpoint's step, so a resumed run's log reads exactly like
an uninterrupted one.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

LOG_NAME = "log.jsonl"
logger = logging.getLogger(__name__)


class RunLog:
    def __init__(self, out_dir: Path, *, resume_step: int | None, tensorboard: bool, enabled: bool):
        self.enabled = enabled
        self.path = out_dir / LOG_NAME
        self._writer = None
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_step is not None and self.path.is_file():
            for line in self.path.read_text().splitlines():
                if line.strip() and json.loads(line)["step"] <= resume_step:
                    kept.append(line)
        self.path.write_text("".join(line + "\n" for line in kept))
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("tensorboard is not installed; logging to log.jsonl only")
            else:
                self._writer = SummaryWriter(str(out_dir / "tensorboard"))

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step":
                    self._writer.add_scalar(f"{record['kind']}/{key}", value, record["step"])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def read_log(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
