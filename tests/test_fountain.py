"""The Fountain screenplay parser and writer, one syntax feature at a time."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from filmkit.spec.fountain import (
    Action,
    Dialogue,
    Lyrics,
    PageBreak,
    SceneHeading,
    Screenplay,
    Section,
    Speech,
    Synopsis,
    Transition,
    parse,
    plain,
    write,
)

# Every input below is also run through the round trip test at the end of the file.
INPUTS: dict[str, str] = {}


def fountain(name: str, text: str) -> str:
    """Register a test input under ``name`` (dedented; ``{two}`` becomes two spaces)."""
    INPUTS[name] = textwrap.dedent(text).lstrip("\n").replace("{two}", "  ")
    return INPUTS[name]


def body(text: str) -> list:
    """The elements of ``text``, as a list for readable comparisons."""
    return list(parse(text).elements)


def lines(text: str) -> list[tuple[str, int]]:
    return [(type(element).__name__, element.line) for element in parse(text).elements]


# -- title page ---------------------------------------------------------------------------

TITLE_PAGE = fountain(
    "title page",
    """
    Title:
        _**THE LAST FERRY**_
        A short film
    Credit: Written by
    Author: Ines Alvarado
    Draft date: 3 March 2024
    Contact:
    \tHarbour Street 4
    \tLisbon

    EXT. PIER - DAWN

    Fog.
    """,
)


def test_title_page_keys_are_lower_case_and_multi_line_values_joined():
    screenplay = parse(TITLE_PAGE)
    assert screenplay.title_page == {
        "title": "THE LAST FERRY\nA short film",
        "credit": "Written by",
        "author": "Ines Alvarado",
        "draft date": "3 March 2024",
        "contact": "Harbour Street 4\nLisbon",
    }
    assert screenplay.elements == (SceneHeading("EXT. PIER - DAWN"), Action("Fog."))
    assert [element.line for element in screenplay.elements] == [11, 13]


NOT_A_TITLE_PAGE = fountain(
    "not a title page",
    """
    Title: Not really
    because this line is no key.

    INT. ROOM - DAY
    """,
)


def test_first_block_with_a_non_key_line_is_no_title_page():
    screenplay = parse(NOT_A_TITLE_PAGE)
    assert screenplay.title_page == {}
    assert screenplay.elements[0] == Action("Title: Not really\nbecause this line is no key.")


def test_no_title_page_at_all():
    screenplay = parse("INT. ROOM - DAY\n")
    assert screenplay.title_page == {}
    assert screenplay.elements == (SceneHeading("INT. ROOM - DAY"),)


# -- scene headings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "heading",
    [
        "INT. KITCHEN - NIGHT",
        "EXT. ROOFTOP - DAY",
        "EST. HARBOUR - DAWN",
        "INT./EXT. CAR - MOVING",
        "INT/EXT CAR - MOVING",
        "I/E CAR - MOVING",
        "int. kitchen - night",
        "ext rooftop",
    ],
)
def test_scene_heading_prefixes(heading):
    assert body(f"{heading}\n\nShe waits.\n") == [SceneHeading(heading), Action("She waits.")]


SCENE_HEADINGS = fountain(
    "scene headings",
    """
    Intro text.

    INT. HALLWAY - NIGHT

    INTERIOR decorators argue.

    EXTRA. Extra. Read all about it.

    .SNIPER SCOPE POV

    ...and then silence.

    EXT. DOCK - DAY
    Gulls circle.
    """,
)


def test_scene_headings_need_a_known_prefix_or_a_dot():
    assert body(SCENE_HEADINGS) == [
        Action("Intro text."),
        SceneHeading("INT. HALLWAY - NIGHT"),
        Action("INTERIOR decorators argue."),
        Action("EXTRA. Extra. Read all about it."),
        SceneHeading("SNIPER SCOPE POV"),
        Action("...and then silence."),
        # a heading directly followed by action (no blank line) is still a heading
        SceneHeading("EXT. DOCK - DAY"),
        Action("Gulls circle."),
    ]


HEADING_NEEDS_BLANK = fountain(
    "heading needs blank line",
    """
    She opens the door.
    INT. stays part of the action here.
    """,
)


def test_scene_heading_needs_a_blank_line_before():
    assert body(HEADING_NEEDS_BLANK) == [
        Action("She opens the door.\nINT. stays part of the action here.")
    ]


SCENE_NUMBERS = fountain(
    "scene numbers",
    """
    INT. HOUSE - DAY #1#

    INT. HOUSE - NIGHT #1A#

    .FLASHBACK #I-2.a#

    EXT. BAR #7 - NIGHT
    """,
)


def test_scene_numbers():
    assert body(SCENE_NUMBERS) == [
        SceneHeading("INT. HOUSE - DAY", "1"),
        SceneHeading("INT. HOUSE - NIGHT", "1A"),
        SceneHeading("FLASHBACK", "I-2.a"),
        SceneHeading("EXT. BAR #7 - NIGHT"),
    ]


# -- action -------------------------------------------------------------------------------

ACTION = fountain(
    "action",
    """
    The kettle screams.
    Nobody moves.

    \tA tab-indented line.
        Four spaces in.
      Two spaces in.

    Second paragraph.
    """,
)


def test_action_keeps_line_breaks_and_indentation():
    assert body(ACTION) == [
        Action("The kettle screams.\nNobody moves."),
        Action("\tA tab-indented line.\n    Four spaces in.\n  Two spaces in."),
        Action("Second paragraph."),
    ]


FORCED_ACTION = fountain(
    "forced action",
    """
    !SCANNING THE HORIZON
    Nothing.

    !EXT. is just a word here

    !CUT TO:

    !!Two bangs.
    """,
)


def test_forced_action():
    assert body(FORCED_ACTION) == [
        Action("SCANNING THE HORIZON\nNothing."),
        Action("EXT. is just a word here"),
        Action("CUT TO:"),
        Action("!Two bangs."),
    ]


CENTERED = fountain(
    "centered",
    """
    >THE END<

    > INTERMISSION <
    >back soon<
    """,
)


def test_centered_text():
    assert body(CENTERED) == [
        Action("THE END", centered=True),
        Action("INTERMISSION\nback soon", centered=True),
    ]


ALL_CAPS_ACTION = fountain(
    "all caps action",
    """
    BANG!

    THE DOOR SLAMS.

    2047
    A year nobody remembers.
    """,
)


def test_all_caps_line_without_dialogue_after_it_is_action():
    assert body(ALL_CAPS_ACTION) == [
        Action("BANG!"),
        Action("THE DOOR SLAMS."),
        # no letter, so no cue
        Action("2047\nA year nobody remembers."),
    ]


# -- characters and dialogue --------------------------------------------------------------

DIALOGUE = fountain(
    "dialogue",
    """
    MARA
    I said no.
    Twice.

    R2D2
    Beep.

    DR. O'NEIL-SMITH
    Fine.
    """,
)


def test_character_cue_and_dialogue():
    assert body(DIALOGUE) == [
        Dialogue("MARA", speeches=(Speech("I said no.\nTwice."),)),
        Dialogue("R2D2", speeches=(Speech("Beep."),)),
        Dialogue("DR. O'NEIL-SMITH", speeches=(Speech("Fine."),)),
    ]


EXTENSIONS = fountain(
    "extensions",
    """
    MARA (V.O.)
    It was cold.

    BOB (O.S.)
    Coming!

    MARA (CONT'D)
    Colder still.

    BOB (V.O.) (CONT'D)
    Still coming.

    MARA (cont'd)
    Lower case extension.
    """,
)


def test_character_extensions():
    cues = [(d.character, d.extension) for d in parse(EXTENSIONS).dialogue()]
    assert cues == [
        ("MARA", "V.O."),
        ("BOB", "O.S."),
        ("MARA", "CONT'D"),
        ("BOB", "V.O. CONT'D"),
        ("MARA", "cont'd"),
    ]


FORCED_CHARACTER = fountain(
    "forced character",
    """
    @McCLANE
    Yippee.

    @the narrator (V.O.)
    Once upon a time.
    """,
)


def test_forced_character_keeps_its_case():
    assert body(FORCED_CHARACTER) == [
        Dialogue("McCLANE", speeches=(Speech("Yippee."),)),
        Dialogue("the narrator", "V.O.", (Speech("Once upon a time."),)),
    ]


CUE_NEEDS_BLANK = fountain(
    "cue needs blank line",
    """
    The sign reads:
    DANGER
    Keep out.
    """,
)


def test_character_cue_needs_a_blank_line_before():
    assert body(CUE_NEEDS_BLANK) == [Action("The sign reads:\nDANGER\nKeep out.")]


PARENTHETICALS = fountain(
    "parentheticals",
    """
    MARA
    (quietly)
    Don't.
    (beat)
    (louder)
    Don't you dare.
    (smiles)
    """,
)


def test_parentheticals_split_speeches():
    assert body(PARENTHETICALS) == [
        Dialogue(
            "MARA",
            speeches=(
                Speech("Don't.", "quietly"),
                Speech("", "beat"),
                Speech("Don't you dare.", "louder"),
                Speech("", "smiles"),
            ),
        )
    ]


TWO_SPACES = fountain(
    "two spaces",
    """
    DEALER
    Ten.
    Four.
    {two}
    Hit or stand?

    MARA
    Stand.

    Mara taps the table.
    """,
)


def test_two_spaces_continue_dialogue_across_an_empty_line():
    assert body(TWO_SPACES) == [
        Dialogue("DEALER", speeches=(Speech("Ten.\nFour.\n\nHit or stand?"),)),
        Dialogue("MARA", speeches=(Speech("Stand."),)),
        Action("Mara taps the table."),
    ]


DUAL = fountain(
    "dual dialogue",
    """
    JACK
    Left!

    JILL ^
    Right!

    JACK
    Alone now.
    """,
)


def test_dual_dialogue_marks_both_halves():
    assert [(d.character, d.dual) for d in parse(DUAL).dialogue()] == [
        ("JACK", True),
        ("JILL", True),
        ("JACK", False),
    ]


DIALOGUE_INDENTED = fountain(
    "indented dialogue",
    """
    \t\tMARA
    \t(softly)
    \tHello.
    """,
)


def test_leading_whitespace_outside_action_is_ignored():
    assert body(DIALOGUE_INDENTED) == [Dialogue("MARA", speeches=(Speech("Hello.", "softly"),))]


# -- transitions --------------------------------------------------------------------------

TRANSITIONS = fountain(
    "transitions",
    """
    Mara leaves.

    CUT TO:

    >FADE OUT.

    >Burn to white.

    SMASH CUT TO:
    is a cue here, since dialogue follows.
    """,
)


def test_transitions():
    assert body(TRANSITIONS) == [
        Action("Mara leaves."),
        Transition("CUT TO:"),
        Transition("FADE OUT."),
        Transition("Burn to white."),
        Dialogue("SMASH CUT TO:", speeches=(Speech("is a cue here, since dialogue follows."),)),
    ]


TRANSITION_IN_ACTION = fountain(
    "transition inside action",
    """
    She whispers
    CUT TO:

    Cut to: the chase.
    """,
)


def test_transition_needs_blank_lines_and_upper_case():
    assert body(TRANSITION_IN_ACTION) == [
        Action("She whispers\nCUT TO:"),
        Action("Cut to: the chase."),
    ]


# -- lyrics, sections, synopses, page breaks ----------------------------------------------

LYRICS = fountain(
    "lyrics",
    """
    ~Row, row, row your boat
    ~Gently down the stream

    ~Merrily
    """,
)


def test_lyrics():
    assert body(LYRICS) == [
        Lyrics("Row, row, row your boat\nGently down the stream"),
        Lyrics("Merrily"),
    ]


OUTLINE = fountain(
    "outline",
    """
    # ACT ONE
    = Mara wants off the island.

    ## The ferry
    ### Missed it

    INT. TERMINAL - DAY

    ===

    = A synopsis after a page break.
    ==========
    """,
)


def test_sections_synopses_and_page_breaks():
    assert body(OUTLINE) == [
        Section("ACT ONE", 1),
        Synopsis("Mara wants off the island."),
        Section("The ferry", 2),
        Section("Missed it", 3),
        SceneHeading("INT. TERMINAL - DAY"),
        PageBreak(),
        Synopsis("A synopsis after a page break."),
        PageBreak(),
    ]
    assert lines(OUTLINE) == [
        ("Section", 1),
        ("Synopsis", 2),
        ("Section", 4),
        ("Section", 5),
        ("SceneHeading", 7),
        ("PageBreak", 9),
        ("Synopsis", 11),
        ("PageBreak", 12),
    ]


# -- emphasis and escapes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("*italic*", "italic"),
        ("**bold**", "bold"),
        ("***bold italic***", "bold italic"),
        ("_underline_", "underline"),
        ("_**both**_ and *mixed **bold** inside*", "both and mixed bold inside"),
        ("code \\*9765\\*", "code *9765*"),
        ("**\\*9765\\***", "*9765*"),
        ("a back\\\\slash", "a back\\slash"),
        ("C:\\Users stays", "C:\\Users stays"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("snake_case_name", "snake_case_name"),
        ("*not across\nlines*", "*not across\nlines*"),
        ("\\_not underlined\\_", "_not underlined_"),
    ],
)
def test_plain_removes_emphasis_and_resolves_escapes(source, expected):
    assert plain(source) == expected


EMPHASIS = fountain(
    "emphasis",
    """
    INT. *VAULT* - NIGHT

    Steel enters **\\*9765\\***. The _door_ opens.

    MARA
    (*very* quietly)
    I ***told*** you.
    """,
)


def test_emphasis_is_removed_from_every_element():
    assert body(EMPHASIS) == [
        SceneHeading("INT. VAULT - NIGHT"),
        Action("Steel enters *9765*. The door opens."),
        Dialogue("MARA", speeches=(Speech("I told you.", "very quietly"),)),
    ]


# -- notes and boneyard -------------------------------------------------------------------

NOTES = fountain(
    "notes",
    """
    INT. OFFICE - DAY [[or night?]]

    Mara types.[[ a note
    over two lines ]] She stops.

    [[A note on its own line.]]

    MARA
    [[make this funnier]]
    Done.
    """,
)


def test_notes_are_removed():
    assert body(NOTES) == [
        SceneHeading("INT. OFFICE - DAY"),
        Action("Mara types. She stops."),
        Dialogue("MARA", speeches=(Speech("Done."),)),
    ]
    assert lines(NOTES) == [("SceneHeading", 1), ("Action", 3), ("Dialogue", 8)]


BONEYARD = fountain(
    "boneyard",
    """
    INT. ATTIC - NIGHT

    /*
    EXT. GARDEN - DAY

    A whole scene that was cut.

    BOB
    Gone.
    */

    Dust everywhere. /* and cobwebs */ Quiet.

    MARA
    Hello?
    /* cut
    line */
    Anyone?
    """,
)


def test_boneyard_is_removed_and_later_line_numbers_stay_right():
    assert body(BONEYARD) == [
        SceneHeading("INT. ATTIC - NIGHT"),
        Action("Dust everywhere. Quiet."),
        Dialogue("MARA", speeches=(Speech("Hello?\nAnyone?"),)),
    ]
    assert lines(BONEYARD) == [("SceneHeading", 1), ("Action", 12), ("Dialogue", 14)]


UNCLOSED = fountain(
    "unclosed comments",
    """
    A [[ that never closes.

    Then this.
    """,
)


def test_unclosed_notes_stay_as_text():
    assert body(UNCLOSED) == [Action("A [[ that never closes."), Action("Then this.")]


# -- line endings and line numbers --------------------------------------------------------


def test_crlf_and_cr_line_endings():
    text = "INT. ROOM - DAY\r\n\r\nMARA\r\n(low)\r\nHi.\r\n\r\nShe goes.\r\n"
    expected = [
        SceneHeading("INT. ROOM - DAY"),
        Dialogue("MARA", speeches=(Speech("Hi.", "low"),)),
        Action("She goes."),
    ]
    assert body(text) == expected
    assert body(text.replace("\r\n", "\r")) == expected
    assert lines(text) == [("SceneHeading", 1), ("Dialogue", 3), ("Action", 7)]


def test_line_numbers_after_multi_line_notes_and_boneyard():
    text = (
        "Title: Lines\n"  # 1
        "\n"  # 2
        "/* one\n"  # 3
        "two\n"  # 4
        "three */\n"  # 5
        "\n"  # 6
        "INT. A - DAY [[x\n"  # 7
        "y]]\n"  # 8
        "\n"  # 9
        "BOB\n"  # 10
        "/* a */ Hi. [[b\n"  # 11
        "c]]\n"  # 12
        "\n"  # 13
        ">THE END<\n"  # 14
    )
    assert lines(text) == [("SceneHeading", 7), ("Dialogue", 10), ("Action", 14)]
    assert parse(text).dialogue()[0].speeches == (Speech("Hi."),)


def test_equality_ignores_line_numbers():
    assert Action("x", line=3) == Action("x", line=9)
    assert dataclasses.replace(Action("x", line=3), line=0).line == 0


# -- a realistic screenplay ---------------------------------------------------------------

SCREENPLAY = fountain(
    "screenplay",
    """
    Title: Low Tide
    Credit: written by
    Author: R. Okafor
    Draft date: 12/05/2024

    FADE IN:

    EXT. MUDFLATS - DAWN #1#

    The sea has gone out further than it should. Boats lie on their sides in the
    grey mud, ropes slack.

    TEO (12) picks his way between them, a plastic bucket in one hand.

    TEO
    (calling)
    Grandpa! It's gone all the way out!

    No answer. A gull lands on a hull and watches him.

    GRANDPA (O.S.)
    It does that.

    Teo turns. GRANDPA (70s), waders up to his chest, stands by the harbour wall.

    TEO
    Not this far.

    GRANDPA
    (shrugs)
    The moon's tired.
    (beat)
    Everybody gets tired.

    CUT TO:

    INT. GRANDPA'S KITCHEN - MORNING #2#

    A radio mutters the shipping forecast. Teo eats cereal; Grandpa stares at a tide
    table pinned to the wall, tapping one line with a pencil.

    RADIO (V.O.)
    Dogger, Fisher, German Bight: variable, becoming *cyclonic* later.

    TEO
    What's cyclonic?

    GRANDPA
    Trouble.

    TEO
    Good trouble?

    GRANDPA
    There isn't any.

    TEO ^
    There's always good trouble.

    Grandpa almost smiles. He folds the tide table and puts it in his pocket.

    [[Should the radio keep going under the next line?]]

    GRANDPA (CONT'D)
    Get your boots.

    EXT. HARBOUR WALL - DAY #3#

    /* Cut: the walk through the village.
    Too long for a short. */

    The two of them at the top of the slipway. Far out, a thin line of white.

    ~Low tide, low tide
    ~Bring my father home

    TEO
    Is that the water coming back?

    GRANDPA
    (quietly)
    That's all of it coming back.

    They watch. The line gets wider.

    SMASH CUT TO:

    >BLACK.

    >THE END<
    """,
)


def test_realistic_screenplay():
    screenplay = parse(SCREENPLAY)
    assert screenplay.title_page == {
        "title": "Low Tide",
        "credit": "written by",
        "author": "R. Okafor",
        "draft date": "12/05/2024",
    }
    teo, grandpa = "TEO", "GRANDPA"
    assert list(screenplay.elements) == [
        Action("FADE IN:"),
        SceneHeading("EXT. MUDFLATS - DAWN", "1"),
        Action(
            "The sea has gone out further than it should. Boats lie on their sides in the\n"
            "grey mud, ropes slack."
        ),
        Action("TEO (12) picks his way between them, a plastic bucket in one hand."),
        Dialogue(teo, speeches=(Speech("Grandpa! It's gone all the way out!", "calling"),)),
        Action("No answer. A gull lands on a hull and watches him."),
        Dialogue(grandpa, "O.S.", (Speech("It does that."),)),
        Action("Teo turns. GRANDPA (70s), waders up to his chest, stands by the harbour wall."),
        Dialogue(teo, speeches=(Speech("Not this far."),)),
        Dialogue(
            grandpa,
            speeches=(
                Speech("The moon's tired.", "shrugs"),
                Speech("Everybody gets tired.", "beat"),
            ),
        ),
        Transition("CUT TO:"),
        SceneHeading("INT. GRANDPA'S KITCHEN - MORNING", "2"),
        Action(
            "A radio mutters the shipping forecast. Teo eats cereal; Grandpa stares at a tide\n"
            "table pinned to the wall, tapping one line with a pencil."
        ),
        Dialogue(
            "RADIO",
            "V.O.",
            (Speech("Dogger, Fisher, German Bight: variable, becoming cyclonic later."),),
        ),
        Dialogue(teo, speeches=(Speech("What's cyclonic?"),)),
        Dialogue(grandpa, speeches=(Speech("Trouble."),)),
        Dialogue(teo, speeches=(Speech("Good trouble?"),)),
        Dialogue(grandpa, speeches=(Speech("There isn't any."),), dual=True),
        Dialogue(teo, speeches=(Speech("There's always good trouble."),), dual=True),
        Action("Grandpa almost smiles. He folds the tide table and puts it in his pocket."),
        Dialogue(grandpa, "CONT'D", (Speech("Get your boots."),)),
        SceneHeading("EXT. HARBOUR WALL - DAY", "3"),
        Action("The two of them at the top of the slipway. Far out, a thin line of white."),
        Lyrics("Low tide, low tide\nBring my father home"),
        Dialogue(teo, speeches=(Speech("Is that the water coming back?"),)),
        Dialogue(grandpa, speeches=(Speech("That's all of it coming back.", "quietly"),)),
        Action("They watch. The line gets wider."),
        Transition("SMASH CUT TO:"),
        Transition("BLACK."),
        Action("THE END", centered=True),
    ]
    starts = [element.line for element in screenplay.elements]
    assert starts == [
        *(6, 8, 10, 13, 15, 19, 21, 24, 26, 29, 35),
        *(37, 39, 42, 45, 48, 51, 54, 57, 60, 64),  # 64: after a note on line 62
        *(67, 72, 74, 77, 80, 84, 86, 88, 90),  # 72: after a boneyard on lines 69-70
    ]

    scenes = screenplay.scenes()
    assert [heading.number if heading else None for heading, _ in scenes] == [None, "1", "2", "3"]
    assert scenes[0][1] == [Action("FADE IN:")]
    assert [len(members) for _, members in scenes] == [1, 9, 9, 8]
    assert [d.character for d in screenplay.dialogue()].count(grandpa) == 6


def test_scenes_omits_an_empty_opening_group():
    screenplay = parse("INT. A - DAY\n\nOne.\n\nINT. B - DAY\n")
    assert screenplay.scenes() == [
        (SceneHeading("INT. A - DAY"), [Action("One.")]),
        (SceneHeading("INT. B - DAY"), []),
    ]
    assert Screenplay({}, ()).scenes() == []


# -- writing ------------------------------------------------------------------------------


def test_write_produces_conventional_fountain():
    screenplay = Screenplay(
        {"title": "Two Lines\nOf Title", "author": "Me"},
        (
            SceneHeading("INT. KITCHEN - NIGHT", "4"),
            Action("The kettle screams."),
            Dialogue("MARA", "V.O.", (Speech("Turn it off.", "tired"), Speech("Please.", "beat"))),
            Dialogue("BOB", speeches=(Speech("No."),), dual=True),
            Dialogue("McCLANE", speeches=(Speech("Yes."),), dual=True),
            Dialogue("BOB", speeches=(Speech("One.\n\nTwo."),)),
            Transition("CUT TO:"),
            Transition("FADE OUT."),
            Action("THE END", centered=True),
        ),
    )
    assert write(screenplay) == textwrap.dedent(
        """\
        Title:
            Two Lines
            Of Title
        Author: Me

        INT. KITCHEN - NIGHT #4#

        The kettle screams.

        MARA (V.O.)
        (tired)
        Turn it off.
        (beat)
        Please.

        BOB
        No.

        @McCLANE ^
        Yes.

        BOB
        One.
        {two}
        Two.

        CUT TO:

        >FADE OUT.

        >THE END<
        """
    ).replace("{two}", "  ")


@pytest.mark.parametrize(
    ("element", "written"),
    [
        (SceneHeading("INT. HOUSE - DAY"), "INT. HOUSE - DAY"),
        (SceneHeading("FLASHBACK"), ".FLASHBACK"),
        (SceneHeading("...LATER"), ".\\...LATER"),
        (SceneHeading("ROOM #5#"), ".ROOM #5\\#"),
        (Action("BANG!"), "BANG!"),
        (Action("MARA\nwalks in."), "!MARA\nwalks in."),
        (Action("INT. is a word"), "!INT. is a word"),
        (Action("CUT TO:"), "!CUT TO:"),
        (Action("First.\n~Second.\n#Third.\n\nFifth."), "First.\n!~Second.\n!#Third.\n!\nFifth."),
        (Action("  indented"), "  indented"),
        (Action("a *star*"), "a \\*star\\*"),
        (Action("snake_case"), "snake_case"),
        (
            Dialogue("MARA", speeches=(Speech("(not a parenthetical)"),)),
            "MARA\n\\(not a parenthetical)",
        ),
        (Dialogue("INT. GUARD", speeches=(Speech("Halt."),)), "@INT. GUARD\nHalt."),
        (Dialogue("42", speeches=(Speech("Answer."),)), "@42\nAnswer."),
        (Transition("DISSOLVE TO:"), "DISSOLVE TO:"),
        (Transition("Slow fade"), ">Slow fade"),
        (Transition("FADE <"), ">FADE \\<"),
        (Lyrics("la\nla"), "~la\n~la"),
        (Section("#hashtag", 2), "## \\#hashtag"),
        (Synopsis("= sign"), "= = sign"),
        (PageBreak(), "==="),
    ],
)
def test_write_uses_forced_markers_and_escapes_only_where_needed(element, written):
    # a title page keeps a lone "DISSOLVE TO:" from reading as one
    screenplay = Screenplay({"title": "T"}, (element,))
    assert write(screenplay) == "Title: T\n\n" + written + "\n"
    assert parse(write(screenplay)) == screenplay


def test_write_keeps_a_key_like_first_line_out_of_the_title_page():
    screenplay = Screenplay({}, (Action("Note: the lights are off."),))
    assert parse(write(screenplay)) == screenplay
    assert write(Screenplay({}, ())) == ""


@pytest.mark.parametrize(
    "text",
    [
        "literal [[not a note]] here",
        "literal /* not boneyard */ here",
        "a back\\slash and \\*",
        "ends in a backslash\\",
        "**stars** and _lines_",
    ],
)
def test_write_protects_text_that_looks_like_markup(text):
    screenplay = Screenplay(
        {"title": text},
        (
            SceneHeading(f"INT. {text}"),
            Action(text),
            Action(text, centered=True),
            Dialogue("BOB", text, (Speech(text, text),)),
            Transition(text),
            Lyrics(text),
            Section(text),
            Synopsis(text),
        ),
    )
    assert parse(write(screenplay)) == screenplay


def test_dual_dialogue_chains_survive_the_round_trip():
    first, second, third = (
        Dialogue(name, speeches=(Speech("Now!"),), dual=True) for name in ("A", "B", "C")
    )
    for elements in [(first, second), (first, second, third), (Action("x"), second)]:
        screenplay = Screenplay({}, elements)
        assert parse(write(screenplay)) == screenplay


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_round_trip(name):
    screenplay = parse(INPUTS[name])
    assert screenplay.elements  # every input has a body
    written = write(screenplay)
    again = parse(written)
    assert again == screenplay
    # equality ignores line numbers; check the fields explicitly as well
    strip = [dataclasses.replace(element, line=0) for element in again.elements]
    assert strip == [dataclasses.replace(element, line=0) for element in screenplay.elements]
    assert write(again) == written
