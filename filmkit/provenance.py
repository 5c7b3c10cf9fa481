"""Provenance: what every generated asset of the film came from, and the credits.

Written beside the film after each build from the plan and the step records:

* ``<film>.provenance.json``: every generated asset with its step, backend and
  version, model, seed, params, prompt or line, source files, output digests
  and licence; the film's own digest; and the statement that the film
  contains AI-generated material (also written into the file's metadata by
  the cut);
* ``<film>.credits.txt``: who speaks with which voice, what made the faces,
  sets, music and sounds, and under which terms.

Both are deterministic (no clocks), so an unchanged film leaves them
unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from filmkit.generators.registry import Registry
from filmkit.plan.steps import Plan
from filmkit.spec.models import Film
from filmkit.store.files import json_text

AI_NOTICE = "This film contains AI-generated material (machine-made voices, images, music)."
KIND_TITLES = {
    "script": "Dialogue written with",
    "model": "Models trained by",
    "voice": "Voices",
    "image": "Faces and sets",
    "music": "Music",
    "sound": "Sound effects",
}


def manifest(
    film: Film,
    plan: Plan,
    records: Mapping[str, Mapping[str, Any]],
    registry: Registry,
    film_digest: str | None,
) -> dict[str, Any]:
    """The provenance manifest as plain data; ``film_digest`` is the film file's sha256."""
    assets = []
    for step in plan:
        record = records.get(step.id)
        if step.action.startswith("render/") or record is None or "outputs" not in record:
            continue
        backend = registry.get(step.action)
        params = step.params_value()
        request = step.request_value()
        meta = record.get("meta", {})
        assets.append(
            {
                "step": step.id,
                "label": step.label,
                "kind": step.kind,
                "generator": f"{step.action}@{step.version}",
                "model": meta.get("model") or params.get("model") or params.get("voice"),
                "seed": step.seed,
                "params": params,
                "prompt": request.get("text", ""),
                "direction": request.get("direction", ""),
                "sources": sorted(i.file for i in step.inputs if i.file is not None),
                "outputs": {n: o["digest"] for n, o in record["outputs"].items()},
                "deterministic": backend.deterministic,
                "offline": backend.offline,
                "licence": backend.licence,
            }
        )
    return {
        "title": film.title,
        "film": {"path": film.output, "digest": film_digest},
        "ai_generated": True,
        "notice": AI_NOTICE,
        "assets": assets,
    }


def credits(film: Film, plan: Plan, registry: Registry) -> str:
    """Plain-text credits: the cast and their voices, then what made everything else."""
    lines = [film.title, "", "Cast"]
    for character in film.characters.values():
        voice = film.generators[character.voice] if isinstance(character.voice, str) else None
        backend = voice.backend if voice else character.voice.backend  # type: ignore[union-attr]
        lines.append(f"  {character.name}: voice by {backend}")
    used: dict[str, set[str]] = {}
    for script in film.scripts.values():
        # A picked script is spoken from its file: no step runs, but a model wrote it.
        ref = script.generate
        used.setdefault("script", set()).add(
            film.generators[ref].backend if isinstance(ref, str) else ref.backend
        )
    for step in plan:
        if not step.action.startswith("render/"):
            used.setdefault(step.kind, set()).add(step.action)
    for kind, title in KIND_TITLES.items():
        if kind in used:
            lines += ["", title]
            for backend_id in sorted(used[kind]):
                backend = registry.get(backend_id)
                terms = f" ({backend.licence})" if backend.licence else ""
                lines.append(f"  {backend_id}: {backend.__doc__.strip().splitlines()[0]}{terms}")
    lines += ["", "Made with filmkit.", AI_NOTICE, ""]
    return "\n".join(lines)


def dumps(data: Mapping[str, Any]) -> str:
    """Stable JSON text for the manifest."""
    return json_text(data, sort_keys=True)
