"""The bounded queue alone (no HTTP): a full queue refuses at once, a client that left never runs."""

import asyncio

import pytest

from codeprm.serve.gate import Full, Gate, Gone, Metrics


def test_full_queue_refuses_and_slots_come_back():
    async def main():
        gate = Gate(running=1, queue=1)
        await gate.enter()  # runs
        waiter = asyncio.create_task(gate.enter())  # waits
        await asyncio.sleep(0.05)
        assert (gate.running, gate.waiting) == (1, 1)
        with pytest.raises(Full):
            await gate.enter()
        gate.leave()
        await asyncio.wait_for(waiter, 2)
        assert (gate.running, gate.waiting) == (1, 0)
        gate.leave()
        assert gate.running == 0

    asyncio.run(main())


def test_client_that_disconnects_while_queued_leaves_without_a_slot():
    async def main():
        gate = Gate(running=1, queue=4)
        await gate.enter()
        gone = False

        async def disconnected():
            return gone

        waiter = asyncio.create_task(gate.enter(disconnected, poll_s=0.02))
        await asyncio.sleep(0.05)
        gone = True
        with pytest.raises(Gone):
            await asyncio.wait_for(waiter, 2)
        assert (gate.running, gate.waiting) == (1, 0)
        gate.leave()

    asyncio.run(main())


def test_metrics_render_prometheus_text():
    gate, m = Gate(2, 2), Metrics()
    m.observe("run_code", 200, 0.03)
    m.observe("run_code", 429, 0.0)
    m.verdicts[("run_code", "Finished")] += 1
    text = m.render(gate)
    assert 'codeprm_requests_total{endpoint="run_code",code="429"} 1' in text
    assert 'codeprm_request_seconds_bucket{endpoint="run_code",le="0.05"} 2' in text
    assert 'codeprm_request_seconds_count{endpoint="run_code"} 2' in text
    assert "codeprm_queue_depth 0" in text and 'codeprm_verdicts_total{endpoint="run_code",status="Finished"} 1' in text


def test_waiting_requests_get_slots_in_arrival_order():
    async def main():
        gate, order = Gate(running=1, queue=10), []
        await gate.enter()

        async def one(tag):
            await gate.enter(poll_s=0.01)  # many polls while waiting must not reorder the queue
            order.append(tag)
            await asyncio.sleep(0.03)
            gate.leave()

        tasks = []
        for tag in range(5):
            tasks.append(asyncio.create_task(one(tag)))
            await asyncio.sleep(0.02)
        gate.leave()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert order == [0, 1, 2, 3, 4] and gate.running == 0

    asyncio.run(main())


def test_capacity_is_running_plus_queue_even_when_all_arrive_at_once():
    async def main():
        gate = Gate(running=2, queue=3)
        outcomes = await asyncio.gather(*(asyncio.wait_for(gate.enter(), 0.3) for _ in range(8)), return_exceptions=True)
        assert sum(o is None for o in outcomes) == 2  # ran at once
        assert sum(isinstance(o, Full) for o in outcomes) == 3  # refused
        assert sum(isinstance(o, asyncio.TimeoutError) for o in outcomes) == 3  # were queued (timed out here)
        assert (gate.running, gate.waiting) == (2, 0)  # the cancelled waiters took no slot with them
        gate.leave()
        gate.leave()
        await asyncio.wait_for(gate.enter(), 0.3)
        await asyncio.wait_for(gate.enter(), 0.3)
        assert gate.running == 2

    asyncio.run(main())
