import airlock


def test_scope_buffers_then_dispatches_in_order():
    ran = []
    with airlock.scope(executor=lambda intent: ran.append(str(intent))):
        airlock.enqueue(print, 1)
        airlock.enqueue(len, "ab")
        assert ran == []
    assert ran == ["print(1)", "len('ab')"]
