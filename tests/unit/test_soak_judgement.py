"""What fails a soak (bench/soak.py): lost events always; memory by the store's own rule (moto holds
the data in the service's process, so that process is judged by its growth a job); and a quick run
(CI's) reports the figures without failing on them."""

from bench.soak import Checkpoint, Soak


def soak_with(store: str, main_mb: list[tuple[int, float]], others_mb: float = 0.0) -> Soak:
    soak = Soak(store=store, main_pid=1, judge_latency=False)
    for jobs, mb in main_mb:
        soak.checkpoints.append(
            Checkpoint(
                jobs=jobs,
                seconds=0,
                main_mb=mb,
                total_mb=0,
                processes=2,
                generate_p95_ms=0,
                events=0,
                missing=0,
            )
        )
    first, last = main_mb[0][1], main_mb[-1][1]
    soak.memory_at_first = {1: int(first * 1024), 2: 100 * 1024}
    soak.memory_at_end = {1: int(last * 1024), 2: int((100 + others_mb) * 1024)}
    return soak


def test_moto_growing_with_its_data_at_a_steady_rate_passes_where_a_flat_bound_would_not() -> None:
    # ~90 KB a job for 900 jobs: +79 MB in moto's process, the data it holds
    steady = soak_with("moto", [(100 * n, 170 + 8.8 * (n - 1)) for n in range(1, 11)] + [(1000, 249.5)])
    assert steady.over_bounds() == []
    early, late = steady.main_growth_per_job()
    assert round(early) == 90 and 50 < late < 100  # the last span: 900 to 1,000 jobs


def test_moto_growing_faster_and_faster_fails() -> None:
    copying = soak_with("moto", [(100, 170), (200, 180), (300, 195), (400, 240)])
    assert any("over 1.5x" in problem for problem in copying.over_bounds())


def test_other_processes_than_moto_are_held_to_the_bound() -> None:
    leaking = soak_with("moto", [(100, 170), (200, 178), (300, 186)], others_mb=60)
    assert any("other than moto's grew 60 MB" in problem for problem in leaking.over_bounds())


def test_dynamodb_local_main_process_is_held_to_the_bound() -> None:
    assert soak_with("local", [(100, 165), (200, 166)]).over_bounds() == []
    growing = soak_with("local", [(100, 165), (200, 230)])
    assert any("more than 50 MB" in problem for problem in growing.over_bounds())


def test_a_lost_event_breaks_a_run_and_figures_do_not() -> None:
    soak = soak_with("local", [(100, 165), (200, 230)])
    assert soak.broken() == []  # a quick run reports this growth without failing on it
    soak.missing.append(("job_x", "completed"))
    assert soak.broken() and soak.problems()[0] == soak.broken()[0]
