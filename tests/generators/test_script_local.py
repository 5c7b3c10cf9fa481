"""script/local: a tiny, randomly initialised GPT-2 made on the spot, never the network.

The model and its byte-level BPE tokenizer are built offline in a temporary
directory, so the tests need no download; every test also runs with the
Hub's offline switches on, an empty HF_HOME and sockets that refuse to
connect, which proves the backend reaches for nothing beyond the directory.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from filmkit.errors import GeneratorError
from filmkit.generators.base import Request, ScriptBrief, Turn
from filmkit.generators.script import read_takes
from filmkit.generators.script.local import LocalScript, LocalScriptParams, build_prompt

CORPUS = [
    "ADA\nWhere were you last night?\n\nBO\n(quietly)\nOut by the harbour, watching the boats.\n",
    "ADA\nYou said you would call.\n\nBO\nI know. The lights went out along the pier.\n",
    "BO\nDo you still keep the lamp lit?\n\nADA\nEvery night, for the ones at sea.\n",
]
EOS = "<|endoftext|>"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer GPT-2 and its tokenizer, saved as a Hugging Face model directory."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[EOS],
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS, pad_token=EOS)
    tokenizer.save_pretrained(folder)
    eos = bpe.token_to_id(EOS)
    config = GPT2Config(
        vocab_size=bpe.get_vocab_size(),
        n_positions=128,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: a model this small gains nothing from more, and on a busy
    machine spinning thread pools make each step hundreds of times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Offline switches on, an empty Hub cache, and no outgoing connections at all."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"script/local tried to open a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def brief(**fields: object) -> ScriptBrief:
    """A two-hander's opening, continued three times."""
    values: dict[str, object] = {
        "prompt": "ADA\nWhere were you?\n\nBO\n(softly)\nOut by the pier.\n",
        "opening": (Turn("ADA", "Where were you?"), Turn("BO", "Out by the pier.", "softly")),
        "characters": ("ADA", "BO"),
        "takes": 3,
        "length": 120,
    }
    return ScriptBrief(**(values | fields))  # type: ignore[arg-type]


def run(model: Path, folder: Path, seed: int = 1, script: ScriptBrief | None = None, **params):
    """Run LocalScript once; (takes, metadata)."""
    folder.mkdir(parents=True, exist_ok=True)
    request = Request(
        params=LocalScriptParams(model=str(model), device="cpu", **params),
        seed=seed,
        outputs={"takes": folder / "takes.json"},
        script=script or brief(),
    )
    meta = LocalScript().generate(request)
    return read_takes(request.outputs["takes"]), meta


def test_writes_every_take_as_dialogue_with_the_next_cue(tiny_model, tmp_path):
    takes, meta = run(tiny_model, tmp_path / "a")
    assert len(takes) == 3
    for take in takes:
        # The prompt ends with the next speaker's cue; the take starts with it.
        assert take["text"].startswith("ADA\n")
        assert take["finish"] in {"end", "length", "stop"}
    assert (meta["device"], meta["dtype"]) == ("cpu", "float32")
    assert meta["input_tokens"] > 0 and meta["output_tokens"] > 0
    assert meta["tokens"] == meta["input_tokens"] + meta["output_tokens"]
    data = json.loads((tmp_path / "a" / "takes.json").read_text())
    assert data["version"] == 1


def test_same_seed_same_takes_other_seed_other_takes(tiny_model, tmp_path):
    first, _ = run(tiny_model, tmp_path / "a", seed=5)
    again, _ = run(tiny_model, tmp_path / "b", seed=5)
    other, _ = run(tiny_model, tmp_path / "c", seed=6)
    assert first == again
    assert first != other
    assert len({take["text"] for take in first}) > 1, "the takes differ from one another"


def test_length_cap_is_honoured(tiny_model, tmp_path):
    takes, _ = run(tiny_model, tmp_path / "a", script=brief(length=40), max_new_tokens=200)
    for take in takes:
        assert len(take["text"].rstrip("\n")) <= 40
    assert "length" in {take["finish"] for take in takes}


def test_stop_strings_end_a_take(tiny_model, tmp_path):
    # Every take begins "ADA\n", so a stop at the newline leaves just the cue.
    takes, _ = run(tiny_model, tmp_path / "a", script=brief(stop=("\n",)))
    assert {(take["text"], take["finish"]) for take in takes} == {("ADA\n", "stop")}


def test_prompt_is_fountain_with_header_and_next_cue():
    prompt, cue = build_prompt(brief(title="Harbour", instructions="Keep it terse."))
    assert cue == "ADA"
    assert prompt == (
        "Title: Harbour\n\n[[Keep it terse.]]\n\n"
        "ADA\nWhere were you?\n\nBO\n(softly)\nOut by the pier.\n\nADA\n"
    )


@pytest.mark.parametrize("name", ["gpt2", "models/no-such-model"])
def test_a_model_that_is_not_a_local_directory_is_refused(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GeneratorError, match="never downloads weights.*huggingface-cli download"):
        run(Path(name), tmp_path / "out")
    assert not (tmp_path / "out" / "takes.json").exists()


def test_a_directory_without_a_model_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeneratorError, match="no config.json"):
        run(tmp_path / "empty", tmp_path / "out")


def test_hub_is_offline_while_loading_and_restored_after(tiny_model, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants
    import transformers

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    seen = []
    load = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.append((constants.is_offline_mode(), os.environ.get("HF_HUB_OFFLINE"), kwargs))
        return load(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    run(tiny_model, tmp_path / "a")
    [(offline, switch, kwargs)] = seen
    assert (offline, switch, kwargs["local_files_only"]) == (True, "1", True)
    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
    assert constants.HF_HUB_OFFLINE is False


def test_params_need_a_model_and_forbid_extras():
    with pytest.raises(ValueError, match="model"):
        LocalScriptParams()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="extra"):
        LocalScriptParams(model="m", revision="main")  # type: ignore[call-arg]


def test_without_transformers_says_how_to_install_it(tiny_model, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(
        GeneratorError, match=r"needs transformers; pip install 'filmkit\[local-lm\]'"
    ):
        run(tiny_model, tmp_path / "a")
    assert not (tmp_path / "a" / "takes.json").exists()


def test_a_long_opening_is_cut_to_fit_the_context(tiny_model, tmp_path):
    turns = tuple(Turn("ADA" if i % 2 else "BO", "Out by the harbour again.") for i in range(20))
    takes, meta = run(tiny_model, tmp_path / "a", script=brief(opening=turns), max_new_tokens=100)
    assert len(takes) == 3
    # 128 positions: the opening keeps the last half, the takes get the other.
    assert meta["input_tokens"] == 64
    assert meta["warnings"] == [
        "the prompt was cut to its last 64 tokens and each take to 64 new tokens "
        "to fit the model's 128-token context"
    ]
