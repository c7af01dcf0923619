"""vLLM is the GPU generation path: chosen by an option (in the run id), never switched to silently, refused
where it cannot apply the run's mask, and clear about what it needs where it cannot run. The mask it samples
under is written into the weights: tests/test_masks.py checks that those weights compute what the hooks do."""

import importlib.util

import pytest
import torch

from bench.api.task import EvalSettings, TaskSettings
from bench.core.errors import BenchError
from bench.core.options import parse_options
from bench.harness.config import RunConfig
from bench.llm.chat import ChatSettings, load_chat
from bench.tasks.toxicity import ToxicityOptions, ToxicityTask

needs_no_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is not None and torch.cuda.is_available(),
                                   reason="vLLM can run here")


def toxicity(generation):
    options = parse_options(ToxicityOptions, {"generation": generation}, "task 'toxicity'")
    return ToxicityTask(TaskSettings(None, None, 0, None, options))


def test_vllm_generation_is_an_option_of_the_run_so_its_runs_have_their_own_ids():
    hf = RunConfig(task="toxicity", method="random")
    vllm = RunConfig(task="toxicity", method="random", task_options={"generation": "vllm"})
    assert hf.content_hash() != vllm.content_hash()
    with pytest.raises(BenchError, match="generation"):
        parse_options(ToxicityOptions, {"generation": "tgi"}, "task 'toxicity'")


def test_sampling_with_vllm_under_a_mask_that_lives_in_hooks_is_refused():
    settings = EvalSettings(batch_size=8, autocast_dtype=None, mask_outside_weights=True)
    with pytest.raises(BenchError, match="hooks only"):
        toxicity("vllm").sample(torch.nn.Linear(1, 1), None, settings)


@needs_no_vllm
def test_without_vllm_or_a_gpu_the_vllm_paths_say_what_they_need():
    settings = EvalSettings(batch_size=8, autocast_dtype=None)
    with pytest.raises(BenchError, match="generation 'vllm' needs"):
        toxicity("vllm").sample(torch.nn.Linear(1, 1), None, settings)
    with pytest.raises(BenchError, match="generation 'vllm' needs"):
        load_chat("vllm", ChatSettings())
