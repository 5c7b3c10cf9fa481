"""The build DAG as Graphviz DOT text and as a PNG drawn with Pillow."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from filmkit.plan.steps import Plan

KIND_COLOURS = {
    "voice": "#8fbcbb",
    "image": "#ebcb8b",
    "music": "#b48ead",
    "sound": "#c9a0dc",
    "shot": "#88c0d0",
    "transition": "#81a1c1",
    "timeline": "#e5e9f0",
    "dialogue": "#a3be8c",
    "effects": "#a3be8c",
    "mix": "#a3be8c",
    "cut": "#d08770",
}


def to_dot(plan: Plan, statuses: dict[str, str] | None = None) -> str:
    """Graphviz DOT of the plan; node labels carry the status when given."""
    lines = ["digraph film {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled"];']
    for step in plan:
        label = step.id + (f"\\n{statuses[step.id]}" if statuses and step.id in statuses else "")
        colour = KIND_COLOURS.get(step.kind, "#dddddd")
        lines.append(f'  "{step.id}" [label="{label}", fillcolor="{colour}"];')
    for step in plan:
        for dep in step.deps:
            lines.append(f'  "{dep}" -> "{step.id}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw_graph(plan: Plan, statuses: dict[str, str] | None = None) -> Image.Image:
    """A left-to-right layered drawing of the plan (no Graphviz needed)."""
    depth: dict[str, int] = {}
    for step in plan:
        depth[step.id] = 1 + max((depth[d] for d in step.deps), default=-1)
    columns: dict[int, list[str]] = {}
    for step_id, level in depth.items():
        columns.setdefault(level, []).append(step_id)
    font = ImageFont.load_default(size=13)
    box_w, box_h, gap_x, gap_y, pad = 230, 34, 90, 10, 20
    rows = max(len(c) for c in columns.values())
    width = pad * 2 + len(columns) * box_w + (len(columns) - 1) * gap_x
    height = pad * 2 + rows * (box_h + gap_y)
    image = Image.new("RGB", (width, height), "#2e3440")
    draw = ImageDraw.Draw(image)
    centres = {}
    for level, ids in columns.items():
        top = (height - len(ids) * (box_h + gap_y)) // 2
        for row, step_id in enumerate(ids):
            x = pad + level * (box_w + gap_x)
            y = top + row * (box_h + gap_y)
            centres[step_id] = (x, y)
    for step in plan:
        x, y = centres[step.id]
        for dep in step.deps:
            dx, dy = centres[dep]
            draw.line([(dx + box_w, dy + box_h // 2), (x, y + box_h // 2)], fill="#81a1c1", width=1)
    for step in plan:
        x, y = centres[step.id]
        colour = KIND_COLOURS.get(step.kind, "#dddddd")
        draw.rounded_rectangle([x, y, x + box_w, y + box_h], radius=6, fill=colour)
        text = step.id if len(step.id) <= 34 else step.id[:33] + "…"
        draw.text((x + 6, y + 4), text, fill="#2e3440", font=font)
        if statuses and step.id in statuses:
            draw.text((x + 6, y + 18), statuses[step.id], fill="#3b4252", font=font)
    return image
