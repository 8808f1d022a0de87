"""Issue item 7 of the fault matrix, on the real clock: under the fake's fault mix, every id's reported
outcome matches what the server says happened, or is uncertain ("final", "unknown"), never wrongly certain.
(``python -m tests._confusion N RATIO`` prints the whole table.)"""

from __future__ import annotations

import pytest

from ._confusion import CERTAIN_WRONG, measure, render

pytestmark = pytest.mark.integration


# -- 7. outcomes under the fake's fault mix ------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0.1, 0.3])
async def test_07_no_wrong_certainty_under_the_fault_mix(ratio: float) -> None:
    table = await measure(900, ratio, seed=7)
    assert sum(table.values()) == 900  # one result per id
    wrong = {pair: count for pair, count in table.items() if pair in CERTAIN_WRONG}
    assert wrong == {}, render(table)
    assert (
        table[("cancelled by this call", "cancelled")] > 0 and table[("already final", "already_final")] > 0
    )
