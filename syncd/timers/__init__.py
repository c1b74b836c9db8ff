"""timers: what happens when nothing happens: SLA clocks, idle tickets, schedules, digests.

``settings.py`` reads ``calendars``, ``slas`` and channel holds from the config (holidays
from the ``holidays`` package) into ``core.calendar``/``core.sla``/``core.holds`` values;
``keeper.py`` keeps a ticket's timer rows in step with each change, inside the processor's
transaction; ``scheduler.py`` is the loop in ``serve`` that fires due timers, releases held
notifications and runs scheduled rules (``run_once(now)``); ``summaries.py`` builds digest
and scheduled-report params; ``report.py`` computes ``syncd report`` and its gauges.

May import: ``core``, ``store``, ``rules`` (the loader's conditions), the shared
infrastructure. Must not import: ``inbox``, ``channels``, ``discourse``, ``web``, ``cli``.
"""
