"""Property: for random programs of enqueue / nested scope / local policy / raise, what airlock
dispatches (and in which order) equals a small reference model of SPEC §2.2-2.4."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import airlock
from airlock.exceptions import PolicyViolation


class Boom(Exception):
    pass


def a(n: int) -> None: ...
def b(n: int) -> None: ...
def c(n: int) -> None: ...


TASKS = {"a": a, "b": b, "c": c}
POLICIES = {
    "allow": airlock.AllowAll,
    "drop": airlock.DropAll,
    "block_a": lambda: airlock.BlockTasks({"a"}),
    "refuse_b": lambda: airlock.BlockTasks({"b"}, raise_on_enqueue=True),
}

# -- the reference model ------------------------------------------------------------------------


def allows(policy: str, task: str) -> bool:
    """The model's verdict at flush."""
    return not (policy == "drop" or (policy == "block_a" and task == "a")
                or (policy == "refuse_b" and task == "b"))


def refuses_at_enqueue(policy: str, task: str) -> bool:
    return policy == "refuse_b" and task == "b"


def model(program: list, top_policy: str) -> list[int]:
    """The numbers of the enqueues that must be dispatched, in dispatch order."""

    def run(ops, local, chain, buffer, keys) -> bool:  # True: an exception escaped
        for op in ops:
            kind = op[0]
            if kind == "enqueue":
                _, task, key, n = op
                # every local policy and every enclosing scope's policy sees it at enqueue
                if any(refuses_at_enqueue(p, task) for p in (*local, *chain)):
                    return True
                if key is not None:
                    if key in keys:
                        continue  # duplicate key: collapses to the first
                    keys.add(key)
                buffer.append((n, task, local, key))
            elif kind == "local":
                _, policy, body = op
                if run(body, (policy, *local), chain, buffer, keys):
                    return True
            elif kind == "scope":
                _, policy, body, catch = op
                inner: list = []
                if run(body, local, (policy, *chain), inner, set()):
                    if catch:
                        continue  # the inner scope discarded everything it held
                    return True
                for item in inner:  # captured by this scope after the inner policy's say
                    if not allows(policy, item[1]):
                        continue
                    if item[3] is not None:
                        if item[3] in keys:
                            continue
                        keys.add(item[3])
                    buffer.append(item)
            else:  # raise
                return True
        return False

    buffer: list = []
    if run(program, (), (top_policy,), buffer, set()):
        return []
    return [n for n, task, local, _ in buffer
            if all(allows(p, task) for p in local) and allows(top_policy, task)]


# -- the real thing ---------------------------------------------------------------------------


def execute(ops: list, executor) -> None:
    for op in ops:
        kind = op[0]
        if kind == "enqueue":
            _, task, key, n = op
            airlock.enqueue(TASKS[task], n, _key=key)
        elif kind == "local":
            with airlock.policy(POLICIES[op[1]]()):
                execute(op[2], executor)
        elif kind == "scope":
            _, policy, body, catch = op
            try:
                with airlock.scope(POLICIES[policy](), executor=executor):
                    execute(body, executor)
            except (Boom, PolicyViolation):
                if not catch:
                    raise
        else:
            raise Boom


# -- programs -----------------------------------------------------------------------------------

policies = st.sampled_from(sorted(POLICIES))
enqueue_op = st.tuples(st.just("enqueue"), st.sampled_from(sorted(TASKS)),
                       st.sampled_from([None, None, None, "k1", "k2"]))
leaf = st.one_of(enqueue_op, enqueue_op, enqueue_op, st.just(("raise",)))


def blocks(children):
    body = st.lists(children, max_size=4)
    return st.one_of(st.tuples(st.just("scope"), policies, body, st.booleans()),
                     st.tuples(st.just("local"), policies, body))


programs = st.lists(st.recursive(leaf, blocks, max_leaves=14), max_size=6)


def number(ops: list, counter) -> list:
    """Give each enqueue a unique number (its argument), so dispatches can be compared."""
    out = []
    for op in ops:
        if op[0] == "enqueue":
            out.append((*op, next(counter)))
        elif op[0] in ("scope", "local"):
            out.append((op[0], op[1], number(op[2], counter), *op[3:]))
        else:
            out.append(op)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs, policies)
def test_what_is_dispatched_equals_the_reference_model(raw_program, top_policy):
    program = number(raw_program, itertools.count())
    dispatched: list[airlock.Intent] = []
    try:
        with airlock.scope(POLICIES[top_policy](), executor=dispatched.append):
            execute(program, dispatched.append)
    except (Boom, PolicyViolation):
        pass
    assert [i.args[0] for i in dispatched] == model(program, top_policy)
    assert airlock.get_current_scope() is None


def test_the_model_itself_on_a_known_program():
    program = number([
        ("enqueue", "a", None),
        ("scope", "block_a", [("enqueue", "a", None), ("enqueue", "c", "k1")], False),
        ("local", "drop", [("enqueue", "b", None)]),
        ("scope", "allow", [("enqueue", "c", None), ("raise",)], True),
        ("enqueue", "c", "k1"),
        ("enqueue", "b", None),
    ], itertools.count())
    assert model(program, "allow") == [0, 2, 6]
    assert model(program, "refuse_b") == []
