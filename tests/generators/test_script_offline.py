"""The offline script backends: the corpus reader, the character LSTM and the n-gram chain.

Everything here is tiny (a few dozen corpus lines, a 16-unit LSTM trained for
a handful of steps), so it checks behaviour, not prose: determinism, the
turn and Fountain rules, stop strings and length, and the n-gram copy guard.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from filmkit.errors import GeneratorError
from filmkit.generators.base import Request, ScriptBrief, Turn
from filmkit.generators.script import read_takes
from filmkit.generators.script.corpus import (
    TakeWriter,
    read_corpus,
    split_direction,
    trim_speech,
    turn_order,
)
from filmkit.generators.script.lstm import LSTMParams, LSTMScript, LSTMScriptParams, LSTMTrainer
from filmkit.generators.script.ngram import NgramScript, guard_words

CORPUS = """\
# A tiny corpus: comments and blank lines are skipped.
Which Tuesday?
One of the early ones, before the rain started.
(quietly) I never told you about the letter.
You didn't have to. I read it on the stairs.
Then why did you keep it?
Because you left it on the table.

Is the kettle on?
It's been on for ten minutes. Nobody ever listens to it.
(sighing) Fine. I'll go and check the back door.
Take the torch. The hall light's gone again.
Everything in this house is going.
Not everything. The dog is still here.
The dog likes anyone who drops toast.
What time is the train?
Twenty past six, if it's running.
It's never running on a Sunday.
Then we'll walk. It's only nine miles.
Have you seen my glasses?
They're on your head. They're always on your head.
(laughing) Of course they are.
Where were you last night?
At my sister's. She's not well again.
I'm sorry. Is there anything I can do?
You can stop asking questions you don't want answered.
Did you lock the back door?
I think so. I remember the key, anyway.
Remembering the key isn't the same as locking the door.
Then I'll go and check the door again.
Do you want tea or coffee?
Whatever's quicker. The machine's broken again.
Then it's water. Just water, in a glass.
Is it always this cold in here?
Only in winter. And in autumn. And in the rain.
Why didn't you wait for me?
I did wait. I waited an hour in the rain.
The bus broke down on the hill.
Then you should have walked up the hill.
"""
TINY = {
    "hidden": 16,
    "layers": 1,
    "training_steps": 6,
    "sequence": 16,
    "batch": 4,
    "learning_rate": 0.01,
    "dropout": 0.3,
    "device": "cpu",
}
BRIEF = ScriptBrief(
    prompt="MARA\nWhich Tuesday?\n\nOTTO\nOne of the early ones.\n",
    opening=(Turn("MARA", "Which Tuesday?"), Turn("OTTO", "One of the early ones.", "dryly")),
    characters=("MARA", "OTTO", "ZED"),
    takes=3,
    lines=5,
    length=2000,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "lines.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def train(corpus: Path, out: Path, seed: int = 1, **params: object) -> dict[str, object]:
    request = Request(
        params=LSTMParams(corpus="lines.txt", **{**TINY, **params}),
        seed=seed,
        outputs={"weights": out},
        inputs={"corpus": corpus},
    )
    return LSTMTrainer().generate(request)


@pytest.fixture(scope="module")
def weights(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "weights.pt"
    train(corpus, out)
    return out


def lstm_takes(
    weights: Path, folder: Path, brief: ScriptBrief = BRIEF, seed: int = 4, **sampling: object
) -> list[dict[str, str]]:
    out = folder / f"takes-{seed}-{len(list(folder.iterdir()))}.json"
    request = Request(
        params=LSTMScriptParams(corpus="lines.txt", **{**TINY, "max_speech": 40, **sampling}),
        seed=seed,
        outputs={"takes": out},
        script=brief,
        inputs={"model": weights},
    )
    LSTMScript().generate(request)
    return read_takes(out)


def ngram_takes(
    corpus: Path, folder: Path, brief: ScriptBrief = BRIEF, seed: int = 4, **params: object
) -> list[dict[str, str]]:
    out = folder / f"ngram-{seed}-{len(list(folder.iterdir()))}.json"
    request = Request(
        params=NgramScript.Params(corpus="lines.txt", **params),
        seed=seed,
        outputs={"takes": out},
        script=brief,
        inputs={"corpus": corpus},
    )
    NgramScript().generate(request)
    return read_takes(out)


def parse(take: str) -> list[tuple[str, str, str]]:
    """A take's Fountain text -> [(cue, direction, speech)], asserting its form."""
    if not take:
        return []
    assert take.endswith("\n") and not take.endswith("\n\n")
    speeches = []
    for block in take[:-1].split("\n\n"):
        lines = block.split("\n")
        assert len(lines) in (2, 3), block
        cue, *middle, speech = lines
        assert cue and cue == cue.upper() and cue.strip() == cue
        direction = ""
        if middle:
            assert middle[0].startswith("(") and middle[0].endswith(")"), block
            direction = middle[0][1:-1]
        assert speech.strip() == speech and len(speech) >= 2, block
        assert not (speech.startswith("(") and speech.endswith(")")), block
        speeches.append((cue, direction, speech))
    return speeches


# --- the corpus and the shared rules ---------------------------------------------------------


def test_read_corpus_skips_comments_and_blanks_and_normalises(tmp_path: Path, corpus: Path):
    speeches = read_corpus(corpus)
    assert speeches[0] == "Which Tuesday?"
    assert "(quietly) I never told you about the letter." in speeches
    assert not any(s.startswith("#") or not s for s in speeches)
    messy = tmp_path / "messy.txt"
    messy.write_text("\ufeff  Too   many \t spaces.  \n" + CORPUS, encoding="utf-8")
    assert read_corpus(messy)[0] == "Too many spaces."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "no speeches"),
        ("# only a comment\n\n   \n", "no speeches"),
        ("Hello.\nHi.\n", "too small"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_bad_corpus_files_are_clear_errors(tmp_path: Path, content, message):
    path = tmp_path / "corpus.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(GeneratorError, match=message):
        read_corpus(path)
    request = Request(
        params=NgramScript.Params(corpus="corpus.txt"),
        seed=0,
        outputs={"takes": tmp_path / "takes.json"},
        script=BRIEF,
        inputs={"corpus": path},
    )
    with pytest.raises(GeneratorError, match=message):
        NgramScript().generate(request)
    with pytest.raises(GeneratorError, match=message):
        train(path, tmp_path / "w.pt")
    assert not (tmp_path / "w.pt").exists()


def test_split_direction_and_trim():
    assert split_direction("(quietly)  Which   Tuesday?") == ("quietly", "Which Tuesday?")
    assert split_direction("Which Tuesday?") == ("", "Which Tuesday?")
    assert split_direction("(laughs)") == ("laughs", "")
    assert trim_speech("Short.", 20) == "Short."
    assert trim_speech("I went out. Then the rain came down hard", 20) == "I went out."
    cut = trim_speech("one two three four five six seven", 20)
    assert cut == "one two three..." and len(cut) <= 20


@pytest.mark.parametrize(
    ("opening", "expected"),
    [
        ((Turn("MARA", "Hi."), Turn("OTTO", "Hello.")), ["ZED", "MARA", "OTTO", "ZED"]),
        ((Turn("ZED", "Hi."),), ["MARA", "OTTO", "ZED", "MARA"]),
        ((Turn("NOBODY", "Hi."),), ["MARA", "OTTO", "ZED", "MARA"]),
        ((), ["MARA", "OTTO", "ZED", "MARA"]),
    ],
)
def test_turn_order(opening, expected):
    brief = ScriptBrief(prompt="", opening=opening, characters=("MARA", "OTTO", "ZED"))
    order = turn_order(brief)
    assert [next(order) for _ in expected] == expected


def test_take_writer_keeps_stop_strings_and_length():
    brief = ScriptBrief(prompt="", stop=("BANG",), length=200)
    writer = TakeWriter(brief)
    assert writer.add("MARA", "(quietly) Which Tuesday?")
    assert not writer.add("OTTO", "One of the early ones. BANG and more.")
    assert writer.finish == "stop"
    assert writer.text == "MARA\n(quietly)\nWhich Tuesday?\n\nOTTO\nOne of the early ones.\n"
    short = TakeWriter(ScriptBrief(prompt="", length=40))
    assert short.add("MARA", "Which Tuesday?")
    assert not short.add("OTTO", "One of the early ones, before the rain.")
    assert short.finish == "length" and short.text == "MARA\nWhich Tuesday?\n"


# --- the LSTM --------------------------------------------------------------------------------


def test_lstm_script_params_include_every_trainer_param():
    trainer, script = LSTMParams.model_fields, LSTMScriptParams.model_fields
    for name, field in trainer.items():
        assert name in script and script[name].default == field.default
    assert {"temperature", "top_k", "max_speech"} <= set(script) - set(trainer)
    assert LSTMScript.trainer == LSTMTrainer.id() == "model/lstm"


def test_lstm_training_is_reproducible(corpus: Path, weights: Path, tmp_path: Path):
    seen: list[float] = []
    request = Request(
        params=LSTMParams(corpus="lines.txt", **TINY),
        seed=1,
        outputs={"weights": tmp_path / "again.pt"},
        inputs={"corpus": corpus},
        progress=seen.append,
    )
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    meta = LSTMTrainer().generate(request)
    assert torch.equal(torch.rand(3), expected), "the process's own RNG is left alone"
    assert torch.get_num_threads() == threads
    assert (tmp_path / "again.pt").read_bytes() == weights.read_bytes(), "same request, same bytes"
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert meta["device"] == "cpu" and meta["parameters"] > 0 and meta["final_loss"] > 0
    train(corpus, tmp_path / "other.pt", seed=2)
    assert (tmp_path / "other.pt").read_bytes() != weights.read_bytes()


def test_lstm_sampling_is_seeded_and_follows_the_turns(weights: Path, tmp_path: Path):
    first = lstm_takes(weights, tmp_path)
    assert lstm_takes(weights, tmp_path) == first, "same request, same takes"
    assert lstm_takes(weights, tmp_path, seed=5) != first
    assert len(first) == 3 and len({t["text"] for t in first}) == 3, "takes differ"
    for take in first:
        speeches = parse(take["text"])
        assert 1 <= len(speeches) <= BRIEF.lines
        # The opening ends with OTTO: ZED speaks next, then MARA, OTTO, ...
        assert [cue for cue, _, _ in speeches] == ["ZED", "MARA", "OTTO", "ZED", "MARA"][
            : len(speeches)
        ]
        assert all(len(speech) <= 40 for _, _, speech in speeches)
        assert take["finish"] in ("lines", "end")
        assert take["finish"] == "end" or len(speeches) == BRIEF.lines


def test_lstm_honours_stop_strings_and_length(weights: Path, tmp_path: Path):
    free = lstm_takes(weights, tmp_path)
    # A stop string the model is known to write: the middle of take 1's second speech.
    second = parse(free[0]["text"])[1][2]
    stop = second[len(second) // 2 - 1 : len(second) // 2 + 1]
    stopped = lstm_takes(weights, tmp_path, replace(BRIEF, stop=(stop,)))
    assert stopped[0]["finish"] == "stop"
    for take in stopped:
        assert stop not in take["text"]
        parse(take["text"])
    short = replace(BRIEF, length=70)
    for take in lstm_takes(weights, tmp_path, short):
        assert len(take["text"]) <= 70 and take["finish"] in ("length", "end", "lines")
        assert 1 <= len(parse(take["text"])) <= 3


def test_lstm_without_opening_starts_with_the_first_character(weights: Path, tmp_path: Path):
    brief = ScriptBrief(prompt="", characters=("MARA", "OTTO"), takes=1, lines=3)
    (take,) = lstm_takes(weights, tmp_path, brief, temperature=0.5, top_k=5)
    assert [cue for cue, _, _ in parse(take["text"])] == ["MARA", "OTTO", "MARA"][
        : len(parse(take["text"]))
    ]


def test_lstm_needs_its_weights(tmp_path: Path):
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a model")
    for path in (tmp_path / "missing.pt", bogus):
        with pytest.raises(GeneratorError, match="model/lstm"):
            lstm_takes(path, tmp_path)


def test_lstm_on_cuda_without_a_gpu_says_so(corpus: Path, tmp_path: Path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(GeneratorError, match="cuda"):
        train(corpus, tmp_path / "w.pt", device="cuda")


# --- the n-gram chain ------------------------------------------------------------------------


def test_ngram_is_seeded_and_follows_the_turns(corpus: Path, tmp_path: Path):
    first = ngram_takes(corpus, tmp_path)
    assert ngram_takes(corpus, tmp_path) == first
    assert ngram_takes(corpus, tmp_path, seed=9) != first
    assert len({t["text"] for t in first}) == 3
    for take in first:
        speeches = parse(take["text"])
        assert 1 <= len(speeches) <= BRIEF.lines
        assert [c for c, _, _ in speeches] == ["ZED", "MARA", "OTTO", "ZED", "MARA"][
            : len(speeches)
        ]
    stop = replace(BRIEF, stop=("the",), length=90)
    for take in ngram_takes(corpus, tmp_path, stop):
        assert "the" not in take["text"] and len(take["text"]) <= 90
        parse(take["text"])


@pytest.mark.parametrize("max_copy", [2, 3, 6])
def test_ngram_never_replays_the_corpus(corpus: Path, tmp_path: Path, max_copy: int):
    speeches = read_corpus(corpus)
    stream = [w for s in speeches for w in guard_words(split_direction(s)[1])]
    window = max_copy + 1
    runs = {tuple(stream[i : i + window]) for i in range(len(stream) - window + 1)}
    whole = {tuple(guard_words(split_direction(s)[1])) for s in speeches}
    raw = set(speeches)
    plain = replace(BRIEF, takes=4, lines=6)
    # A stop string cuts speeches short; what is left must still be no corpus speech.
    stopped = replace(plain, stop=(". ",))
    emitted = 0
    for seed in range(25):
        brief = stopped if seed % 5 == 0 else plain
        for take in ngram_takes(corpus, tmp_path, brief, seed=seed, max_copy=max_copy):
            said = parse(take["text"])
            words: list[str] = []
            for _, direction, speech in said:
                assert speech not in raw and tuple(guard_words(speech)) not in whole, speech
                assert (f"({direction}) {speech}" if direction else speech) not in raw
                words += guard_words(speech)
            emitted += len(said)
            # The whole take, across its speeches: no window of max_copy + 1 corpus words.
            for i in range(len(words) - window + 1):
                assert tuple(words[i : i + window]) not in runs, " ".join(words[i : i + window])
    assert emitted > 100, "the guard must not silence the chain"


@pytest.mark.parametrize("order", [1, 2, 4])
def test_ngram_orders(corpus: Path, tmp_path: Path, order: int):
    takes = ngram_takes(corpus, tmp_path, order=order)
    assert all(parse(take["text"]) for take in takes)
