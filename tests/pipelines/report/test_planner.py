"""The planner against hand calculations (issue 13) and the `corpusmill plan` command."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.report.planner import (
    PlanRequest,
    chinchilla_params,
    format_count,
    format_usd,
    gpu_hours_for,
    hoffmann_loss,
    kaplan_loss,
    known_table,
    parse_count,
    plan,
    training_flops,
)
from tokenization.accelerators import accelerator, peak_dense_flops


REPO = Path(__file__).resolve().parents[3]


def _plan_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "plan", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)


def test_chinchilla_rule_on_llama_tokens():
    assert chinchilla_params(1.4e12) == 70e9  # D = 20 N


def test_gpt3_flops_and_h100_hours():
    flops = training_flops(175e9, 300e9)
    assert flops == 3.15e23  # 6 x 175e9 x 300e9
    # 3.15e23 / (989.5e12 x 0.4) / 3600 = 221,071.2 GPU-hours: "about 221,000"
    assert gpu_hours_for(flops, "h100", 0.4) == pytest.approx(221_071.25, abs=0.01)


def test_gpt3_on_v100s_costs_the_lecture_figure():
    # 28 TFLOPS sustained per V100 = 0.224 x 125; 3.15e23 / 28e12 / 3600 = 3,125,000 GPU-hours exactly
    hours = gpu_hours_for(3.15e23, "v100", 0.224)
    assert hours == pytest.approx(3_125_000, rel=1e-12)
    assert format_count(hours) == "3.1M"
    cost = hours * 1.50  # $4,687,500
    assert cost == pytest.approx(4_687_500)
    # The commonly cited "$4.6M" (3.14e23 FLOPs: $4.67M) truncates; rounded to two figures both read $4.7M.
    assert format_usd(cost) == "$4.7M" and format_usd(3.14e23 / 28e12 / 3600 * 1.5) == "$4.7M"


def test_converse_budget_buys_the_chinchilla_model():
    # The GPU-hours that give 6 x 70e9 x 1.4e12 = 5.88e23 FLOPs at H100 x 0.4 must buy N = 70B, D = 1.4T.
    hours = 5.88e23 / (989.5e12 * 0.4) / 3600
    converse = plan(PlanRequest(gpu_hours=hours, gpu="h100", mfu=0.4, price_per_hour=2.0))["converse"]
    assert converse["params"] == pytest.approx(70e9) and converse["tokens"] == pytest.approx(1.4e12)
    assert converse["budget_usd"] == pytest.approx(2.0 * hours)
    by_dollars = plan(PlanRequest(budget_usd=2.0 * hours, gpu="h100", mfu=0.4, price_per_hour=2.0, tokens=0.7e12))
    assert by_dollars["converse"]["params"] == pytest.approx(70e9)
    assert by_dollars["converse"]["epochs"] == pytest.approx(2.0)  # 1.4T wanted of a 0.7T corpus


def test_loss_fits_at_hand_checked_points():
    # Kaplan eq. 1.5 at N = N_c, D = D_c: (1 + 1)^0.095
    assert kaplan_loss(8.8e13, 5.4e13) == pytest.approx(2 ** 0.095)
    # Hoffmann eq. 10 at N = D = 1: E + A + B
    assert hoffmann_loss(1, 1) == pytest.approx(1.69 + 406.4 + 410.7)


def test_what_if_epochs_and_the_known_models():
    result = plan(PlanRequest(tokens=100e9, price_per_hour=2.0, model_params=7e9))
    epochs = {row["params"]: row["epochs"] for row in result["what_if"]}
    assert epochs[7e9] == pytest.approx(1.4)  # 20 x 7e9 / 100e9
    assert epochs[70e9] == pytest.approx(14.0)
    assert [row["many_epochs"] for row in result["what_if"]] == [False, False, False, False, True]
    assert result["given_model"]["flops"] == pytest.approx(6 * 7e9 * 100e9)
    flops = {row["name"]: row["flops"] for row in known_table()}
    assert flops == {"BERT-Large": pytest.approx(6 * 340e6 * 128e9), "GPT-2": None,
                     "GPT-3": pytest.approx(3.15e23), "Chinchilla": pytest.approx(5.88e23),
                     "PaLM": pytest.approx(6 * 540e9 * 780e9), "LLaMA-65B": pytest.approx(6 * 65.2e9 * 1.4e12)}


def test_counts_and_gpus_are_read_as_written():
    assert [parse_count(t) for t in ("1.4T", "300B", "175e9", "8_000_000", "40k", "2.5M")] == [
        1.4e12, 300e9, 175e9, 8e6, 40e3, 2.5e6]
    with pytest.raises(ValueError, match="write e.g. 1.4T"):
        parse_count("lots")
    assert {k: accelerator(k).peak_flops for k in ("a100", "h100", "h200", "b200")} == {
        "a100": 312e12, "h100": 989.5e12, "h200": 989.5e12, "b200": 2.25e15}
    assert all(accelerator(k).source.startswith("NVIDIA") for k in ("a100", "h100", "h200", "b200", "v100"))
    assert peak_dense_flops("NVIDIA H100 80GB HBM3") == 989.5e12
    assert peak_dense_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_dense_flops("NVIDIA A100-SXM4-40GB") == 312e12
    assert peak_dense_flops("cpu") is None
    with pytest.raises(ValueError, match="choose one of"):
        accelerator("tpu-v9")


def test_plan_command_prints_the_hand_figures():
    gpt3 = _plan_cli("--tokens", "300B", "--model-params", "175B", "--gpu", "v100", "--mfu", "0.224",
                     "--price-per-hour", "1.5")
    assert gpt3.returncode == 0, gpt3.stderr
    given = next(line for line in gpt3.stdout.splitlines() if line.lstrip().startswith("given N"))
    assert given.split()[2:9] == ["175B", "300B", "1.00", "3.15e+23", "3.1M", "$4.7M", "1.732"]
    llama = _plan_cli("--tokens", "1.4T", "--gpu", "h100", "--mfu", "0.4", "--price-per-hour", "2")
    chinchilla = next(line for line in llama.stdout.splitlines() if line.lstrip().startswith("Chinchilla"))
    # 70B on 1.4T: 5.88e23 FLOPs, / (989.5e12 x 0.4) / 3600 = 412,666 GPU-hours, x $2 = $825,332
    assert chinchilla.split()[1:7] == ["70.0B", "1.4T", "1.00", "5.88e+23", "413k", "$825k"]
    assert "Hoffmann et al. 2022" in llama.stdout and "Kaplan et al. 2020" in llama.stdout
    budget = _plan_cli("--budget-usd", "825332", "--price-per-hour", "2", "--gpu", "h100", "--mfu", "0.4")
    assert "N = 70.0B parameters on D = 1.4T tokens" in budget.stdout.replace("\n", " ")


def test_plan_known_lists_six_models_with_sources():
    known = _plan_cli("--known")
    assert known.returncode == 0, known.stderr
    for name, source in (("BERT-Large", "Devlin et al. 2019"), ("GPT-2", "Radford et al. 2019"),
                         ("GPT-3", "Brown et al. 2020"), ("Chinchilla", "Hoffmann et al. 2022"),
                         ("PaLM", "Chowdhery et al. 2022"), ("LLaMA-65B", "Touvron et al. 2023")):
        assert name in known.stdout and source in known.stdout
    assert "3.15e+23" in known.stdout and "5.88e+23" in known.stdout


@pytest.mark.parametrize("args, message", [
    (["--tokens", "1T", "--mfu", "1.5"], "between 0 and 1"),
    (["--budget-usd", "1000"], "--budget-usd needs --price-per-hour"),
    (["--gpu", "h100"], "give --tokens N"),
    (["--tokens", "1T", "--gpu", "x100"], "unknown GPU 'x100'"),
])
def test_plan_refuses_with_the_fix(args, message):
    done = _plan_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr.replace("\n", " ")


def test_format_usd_and_counts():
    assert [format_usd(v) for v in (950, 12_345, 4_687_500, 1.2e9, None)] == ["$950", "$12.3k", "$4.7M", "$1.2B", "n/a"]
    assert [format_count(v) for v in (221_071.25, 1.4e12, 0.5, 4.84e-8, math.inf)] == [
        "221k", "1.4T", "0.5", "4.84e-08", "n/a"]
