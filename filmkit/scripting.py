"""Script steps in a project: takes, picks and rounds, on disk.

The film speaks a script's *pick file* (``scripts/NAME.fountain``, committed
with the film) when there is one: no model runs, and every machine speaks
the same text. Without one, the build writes round 1 of takes and speaks
take 1, with a warning. ``film.lock``'s ``scripts:`` section counts the
rounds (``build --regenerate NAME`` adds one) and remembers the pick: its
take number, the settings it was written under and the digest of its text,
so ``filmkit takes`` can mark it and the build can say when the prompt or
params changed after the pick.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from filmkit.errors import SpecError, UsageError
from filmkit.generators.script import read_takes
from filmkit.plan.keys import canonical_json, sha256_text
from filmkit.plan.scripts import compile_takes, take_numbers, take_step_id
from filmkit.plan.steps import Plan
from filmkit.spec.hints import suggest
from filmkit.spec.loading import LoadedSpec
from filmkit.spec.scripts import take_lines
from filmkit.store.files import atomic_write_text
from filmkit.store.lockfile import ScriptLock, read_scripts, write_scripts

if TYPE_CHECKING:
    from filmkit.project import Project

PICK_HEADER = (
    "/* Take {take} of script {name!r}, written by {backend} and picked with\n"
    "   `filmkit pick {name} {take}`. The film speaks this file: edit it freely,\n"
    "   or pick another take (`filmkit takes {name}` lists them). */\n\n"
)


@dataclass(frozen=True)
class Take:
    """One take of a script step: its number, text, and whether it is the pick."""

    number: int
    round: int
    text: str
    finish: str
    picked: bool = False
    edited: bool = False


@dataclass(frozen=True)
class Picked:
    """What ``filmkit pick`` changed: the file it wrote and the speeches before and after."""

    path: str
    take: int
    before: list[str]
    after: list[str]


class Scripts:
    """The script steps of one loaded film, with their takes in the project's store."""

    def __init__(self, project: Project, spec: LoadedSpec) -> None:
        self.project = project
        self.spec = spec
        self.film = spec.film

    # what the film speaks ------------------------------------------------------

    def texts(self) -> tuple[dict[str, str], list[str]]:
        """(text of each script that has one, names of the scripts nobody picked yet).

        A picked script's text is its pick file; an unpicked one's is take 1
        when round 1 has been written, and missing otherwise.
        """
        texts: dict[str, str] = {}
        unpicked = []
        for name, script in self.film.scripts.items():
            path = self.project.root / script.pick_file(name)
            if path.is_file():
                texts[name] = path.read_text(encoding="utf-8")
                continue
            unpicked.append(name)
            takes = self.written(name, 1)
            if takes:
                texts[name] = takes[0]["text"]
        return texts, unpicked

    def notes(self) -> list[SpecError]:
        """Warnings about picks: none made yet, or made under other settings."""
        notes = []
        locks = read_scripts(self.project.lock_path)
        for name, script in self.film.scripts.items():
            if not (self.project.root / script.pick_file(name)).is_file():
                notes.append(
                    SpecError(
                        f"script {name!r} is not picked: the film speaks take 1 of its "
                        "first round, and may change if the takes are ever written again",
                        hint=f"`filmkit takes {name}` lists the takes; `filmkit pick {name} N` "
                        f"pins one in {script.pick_file(name)} (commit it)",
                        path=("scripts", name),
                    )
                )
                continue
            lock = locks.get(name)
            if lock is not None and lock.take is not None and lock.settings != self.settings(name):
                notes.append(
                    SpecError(
                        f"script {name!r}: the picked take was written with other settings "
                        "(the prompt or params changed since); the film still speaks "
                        f"{script.pick_file(name)}",
                        hint=f"`filmkit takes {name}` writes takes with the new settings; "
                        f"`filmkit pick {name} N` switches to one",
                        path=("scripts", name),
                    )
                )
        return notes

    # rounds and their steps ----------------------------------------------------

    def rounds(self, names: Iterable[str], regenerate: Iterable[str] = ()) -> dict[str, range]:
        """Which rounds to plan: every recorded round of ``names``, plus a new one for each
        script in ``regenerate``."""
        locks = read_scripts(self.project.lock_path)
        out: dict[str, range] = {}
        for name in names:
            out[name] = range(1, self._rounds(locks, name) + 1)
        for name in regenerate:
            self.check_name(name)
            new = self._rounds(locks, name) + 1
            out[name] = range(out[name].start, new + 1) if name in out else range(new, new + 1)
        return out

    def record_rounds(self, regenerate: Iterable[str]) -> None:
        """Count one more round for each regenerated script, in film.lock."""
        regenerate = list(regenerate)
        if not regenerate:
            return
        locks = read_scripts(self.project.lock_path)
        for name in regenerate:
            lock = locks.get(name, ScriptLock())
            locks[name] = ScriptLock(
                self._rounds(locks, name) + 1, lock.take, lock.settings, lock.text
            )
        write_scripts(self.project.lock_path, locks)

    def takes_plan(self, rounds: Mapping[str, Iterable[int]]) -> Plan:
        """The steps that write these rounds of takes (and train the models they need)."""
        rounds = {name: list(r) for name, r in rounds.items() if list(r)}
        if not rounds:
            return Plan(())
        return compile_takes(self.film, self.project.registry, rounds)

    def all_rounds(self, name: str) -> range:
        """Every round recorded for ``name`` (at least round 1)."""
        return range(1, self._rounds(read_scripts(self.project.lock_path), name) + 1)

    def settings(self, name: str) -> str:
        """Digest of what a script's takes are written from, apart from the seed of a round."""
        step = self.takes_plan({name: [1]})[take_step_id(name, 1)]
        return sha256_text(
            canonical_json([step.action, step.version, step.params_value(), step.request_value()])
        )

    # takes ---------------------------------------------------------------------

    def written(self, name: str, round_: int) -> list[dict[str, str]] | None:
        """The takes of one round, if they are in the store; None if not written yet."""
        plan = self.takes_plan({name: [round_]})
        forecast = {f.step.id: f for f in self.project.forecast(plan)}
        record = forecast[take_step_id(name, round_)].record
        if record is None:
            return None
        return read_takes(self.project.store.object_path(record["outputs"]["takes"]["digest"]))

    def listing(self, name: str) -> list[Take]:
        """Every written take of ``name``, in number order, the pick marked."""
        self.check_name(name)
        script = self.film.scripts[name]
        lock = read_scripts(self.project.lock_path).get(name, ScriptLock())
        current = self._pick_text(name)
        settings = self.settings(name)
        out = []
        for round_ in self.all_rounds(name):
            takes = self.written(name, round_) or []
            for number, take in zip(take_numbers(script.takes, round_), takes, strict=False):
                picked = current is not None and lock.take == number and lock.settings == settings
                edited = picked and self._speeches(name, current) != self._speeches(
                    name, take["text"]
                )
                out.append(Take(number, round_, take["text"], take["finish"], picked, edited))
        return out

    def pick(self, name: str, number: int) -> Picked:
        """Write take ``number`` to the script's pick file and record the pick in film.lock."""
        takes = {take.number: take for take in self.listing(name)}
        if number not in takes:
            known = f"takes 1-{max(takes)}" if takes else "no takes yet"
            raise UsageError(
                f"script {name!r} has no take {number} ({known}); `filmkit takes {name}` lists them"
            )
        script = self.film.scripts[name]
        relative = script.pick_file(name)
        before = self._speeches(name, self._pick_text(name) or "")
        text = takes[number].text
        step = self.takes_plan({name: [1]})[take_step_id(name, 1)]
        header = PICK_HEADER.format(take=number, name=name, backend=step.action)
        atomic_write_text(self.project.root / relative, header + text)
        locks = read_scripts(self.project.lock_path)
        rounds = self._rounds(locks, name)
        locks[name] = ScriptLock(rounds, number, self.settings(name), sha256_text(text))
        write_scripts(self.project.lock_path, locks)
        return Picked(relative, number, before, self._speeches(name, text))

    def check_name(self, name: str) -> None:
        """Fail clearly unless ``name`` is a script of this film."""
        if name not in self.film.scripts:
            choices = list(self.film.scripts)
            listed = ", ".join(choices) if choices else "none; add them under `scripts:`"
            raise UsageError(
                f"no script named {name!r}; {suggest(name, choices)} (scripts: {listed})"
            )

    def _pick_text(self, name: str) -> str | None:
        path = self.project.root / self.film.scripts[name].pick_file(name)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def _speeches(self, name: str, text: str) -> list[str]:
        """A script text's speakable lines, as ``who: text``."""
        lines, _ = take_lines(self.film, self.film.scripts[name], text)
        return [f"{line['who']}: {line['text']}" for line in lines]

    @staticmethod
    def _rounds(locks: Mapping[str, ScriptLock], name: str) -> int:
        return max(1, locks[name].rounds) if name in locks else 1
