"""The scripted servers prompt optimisation is tested with: the DJ whose play follows one idea
in its instructions (:mod:`idea_dj`) and the reflection model that proposes fixed instructions
(:mod:`scripted_reflection`).

Fast checks: which idea a request holds, the code each idea writes, the proposals as GEPA's own
extractor reads them. Slow checks, over HTTP through the clients the job uses (GEPA's LiteLLM
wrapper, DSPy's LM) and the real run path: the better idea plays a clearly higher proxy OBJ and
the worse one a clearly lower, on palettes the neutral text plays in between.
"""

from __future__ import annotations

import ast

import pytest
from idea_dj import BAD_IDEA, GOOD_IDEA, IdeaDJ, dj_code, dj_reply, first_turn, idea_of, with_idea
from scripted import chat_fields
from scripted_reflection import ScriptedReflection, extract_like_gepa, fenced

from rlmdj.resources import bundled_dir

BASE = (bundled_dir("prompts") / "baseline.txt").read_text()


def dj_body(system: str, user: str = "[[ ## variables_info ## ]]\npalette A\n\n[[ ## repl_history ## ]]\n") -> dict:
    return {"model": "local-model", "messages": [{"role": "system", "content": system},
                                                 {"role": "user", "content": user}]}


@pytest.mark.parametrize("idea", ["good", "bad", "neutral"])
def test_the_idea_is_read_from_the_system_message_only(idea):
    assert idea_of(dj_body(with_idea(BASE, idea))) == idea
    # The same words in the user's turn (the history, the palette) change nothing.
    assert idea_of(dj_body(BASE, user=f"{GOOD_IDEA} {BAD_IDEA}")) == "neutral"


def test_each_idea_writes_valid_code_of_its_own_shape():
    codes = {idea: dj_code(idea, seed=3) for idea in ("good", "bad", "neutral")}
    for code in codes.values():
        ast.parse(code)
    # Better: the full groove, held, never muted. Neutral: 2 of every 8 bars muted. Worse: 4 of 8.
    assert "add(_role" in codes["good"] and "mute(" not in codes["good"]
    assert "play(6)" in codes["neutral"] and "play(2)" in codes["neutral"]
    assert codes["bad"].count("play(4)") == 2 and "add(_role" not in codes["bad"]
    assert len(set(codes.values())) == 3
    assert first_turn(turn(BASE, "A", 1)) and not first_turn(turn(BASE, "A", 2))


def test_noise_follows_the_set_and_replica_never_the_instructions():
    body = dj_body(with_idea(BASE, "neutral", 1))
    assert dj_reply(body) == dj_reply(body)
    assert dj_reply(body).endswith("[[ ## completed ## ]]") and "```python" in dj_reply(body)
    # Another text with no idea plays the very same set: paired differences are exactly 0.
    assert dj_reply(dj_body(with_idea(BASE, "neutral", 2))) == dj_reply(body)
    # Later turns of the same set (a longer history) keep the same noise.
    later = dj_body(body["messages"][0]["content"],
                    user=body["messages"][1]["content"] + "=== Step 1 ===\nprint(play(8))")
    assert dj_reply(later) == dj_reply(body)
    # Replicas and palettes differ.
    assert len({dj_reply(body, r) for r in range(4)}) == 4
    other = dj_body(body["messages"][0]["content"], user=body["messages"][1]["content"].replace("A", "B"))
    assert dj_reply(other) != dj_reply(body)


def turn(system: str, palette: str, iteration: int) -> dict:
    return dj_body(system, user=f"[[ ## variables_info ## ]]\n{palette}\n\n[[ ## repl_history ## ]]\n...\n\n"
                                f"[[ ## iteration ## ]]\n{iteration}/18\n")


def test_the_server_numbers_replicas_by_the_sets_it_opened():
    good, plain = with_idea(BASE, "good"), with_idea(BASE, "neutral")
    server = IdeaDJ()
    try:
        order = [(plain, "A", 1), (plain, "A", 2), (good, "A", 1), (good, "A", 2), (plain, "A", 1),
                 (plain, "B", 1), (plain, "A", 2)]
        replies = [server._reply(turn(*t)) for t in order]
    finally:
        server._server.server_close()
    assert server.opened == [("neutral", 0), ("good", 0), ("neutral", 1), ("neutral", 0)]
    assert server.sets() == {"neutral": 3, "good": 1}
    assert replies[1] == replies[0] and replies[4] != replies[0] and replies[6] == replies[4]
    assert replies[0] == dj_reply(turn(plain, "A", 1), 0) and replies[4] == dj_reply(turn(plain, "A", 1), 1)


def gepa_prompt(instructions: str) -> str:
    """GEPA's default proposal prompt showing ``instructions`` (its own template)."""
    from gepa.strategies.instruction_proposal import InstructionProposalSignature

    return InstructionProposalSignature.prompt_renderer({
        "current_instruction_doc": instructions,
        "dataset_with_feedback": [{"Inputs": "brief p0", "Generated Outputs": "OBJ 5.2", "Feedback": "quiet bars"}],
    })


def test_proposals_come_out_of_gepas_extractor_in_order_then_as_distinct_variants():
    good = with_idea(BASE, "good")
    proposals = [with_idea(BASE, "neutral", 1), lambda parent: with_idea(parent, "bad")]
    # The instructions hold ``` blocks of their own (the example step); GEPA's extractor reads
    # from the first fence to the last, so the whole text survives.
    assert "```" in BASE
    for text in (BASE, good):
        assert extract_like_gepa(fenced(text)) == text.strip()
    server = ScriptedReflection(proposals)
    body = {"messages": [{"role": "user", "content": gepa_prompt(good)}]}
    got = [extract_like_gepa(server._propose(body)) for _ in range(4)]
    server._server.server_close()
    assert server.shown == [good] * 4
    assert got[0] == proposals[0].strip()
    assert got[1] == with_idea(good, "bad").strip()  # a mutation of the parent shown
    assert idea_of(dj_body(got[1])) == "bad"  # the worse idea spoils the better parent
    # Then neutral variants of the parent: distinct, the parent's idea kept.
    assert len(set(got)) == 4 and all(idea_of(dj_body(t)) == "good" for t in got[2:])
    assert len(server.asked) == 4 and "quiet bars" in server.asked[0]


def test_a_request_in_dspy_chat_format_is_answered_in_it():
    system = ("Your input fields are:\n1. `current_instruction` (str)\nYour output fields are:\n"
              "1. `reasoning` (str)\n2. `new_instruction` (str)\nAll interactions will be structured...")
    server = ScriptedReflection(["Play long."])
    reply = server._propose({"messages": [{"role": "system", "content": system},
                                          {"role": "user", "content": "improve it"}]})
    server._server.server_close()
    assert reply == chat_fields({"reasoning": fenced("Play long."), "new_instruction": fenced("Play long.")})


@pytest.mark.slow
def test_gepas_reflection_client_gets_the_scripted_proposals_over_http():
    from gepa.lm import LM

    proposals = [with_idea(BASE, "good"), with_idea(BASE, "neutral", 1)]
    with ScriptedReflection(proposals) as server:
        lm = LM("openai/reflect", api_base=server.base_url, api_key="none", num_retries=0)
        got = [extract_like_gepa(lm("I provided an assistant with the following instructions ...")) for _ in proposals]
    assert got == [p.strip() for p in proposals]
    assert server.proposed == [p.strip() for p in proposals]


@pytest.mark.slow
def test_the_ideas_move_the_proxy_obj_well_beyond_the_palette_noise(compose_cfg, tmp_path):
    """Two palettes, 16 bars: better > neutral + 0.3 > worse + 1 on each (measured effects:
    see the helper's module)."""
    from rlmdj.experiments.jobs.run import run_set

    objs: dict[tuple[str, str], float] = {}
    with IdeaDJ() as server:
        for idea in ("good", "neutral", "bad"):
            path = tmp_path / f"{idea}.txt"
            path.write_text(with_idea(BASE, idea))
            for palette in ("example", "example_synth"):
                outcome = run_set(compose_cfg(
                    "dj=rlm", "model=local", f"model.api_base={server.base_url}", "dj.sandbox.kind=local",
                    "prompt=baseline", f"prompt.name=idea_{idea}", f"prompt.path={path}", f"palette={palette}",
                    "bars=16"))
                assert outcome.status == "FINISHED" and outcome.score is not None
                objs[idea, palette] = outcome.score.obj
        counts = server.ideas()
    assert counts["good"] > 0 and counts["bad"] > 0 and counts["neutral"] > 0
    for palette in ("example", "example_synth"):
        assert objs["good", palette] > objs["neutral", palette] + 0.3, objs
        assert objs["neutral", palette] > objs["bad", palette] + 1.0, objs
