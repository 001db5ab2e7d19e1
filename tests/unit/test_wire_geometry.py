"""The geometry the wire adapters share: corners, bounds, ratios, rounding, quads."""

from __future__ import annotations

import pytest

from localvision.wire import geometry


def test_corners_run_clockwise_from_top_left() -> None:
    assert geometry.corners(1, 2, 30, 40) == ((1, 2), (30, 2), (30, 40), (1, 40))


def test_bounds_is_the_box_around_the_points() -> None:
    tilted = [(10.0, 5.0), (40.0, 12.0), (38.0, 30.0), (8.0, 22.0)]
    assert geometry.bounds(tilted) == (8.0, 5.0, 40.0, 30.0)
    assert geometry.bounds([(3, 4)]) == (3, 4, 3, 4)
    with pytest.raises(ValueError):
        geometry.bounds([])


def test_rect_and_box_round_trip() -> None:
    box = (10.0, 20.0, 110.0, 70.0)
    rect = geometry.box_to_rect(box)
    assert rect == (10.0, 20.0, 100.0, 50.0)
    assert geometry.rect_to_box(rect) == box


def test_ratios_round_trip_and_are_not_clamped() -> None:
    box = (64.0, 48.0, 320.0, 240.0)
    ratios = geometry.to_ratios(box, 640, 480)
    assert ratios == (0.1, 0.1, 0.5, 0.5)
    assert geometry.from_ratios(ratios, 640, 480) == box
    # A region past the image's edge stays past it, in both directions.
    assert geometry.to_ratios((-64.0, 0.0, 700.0, 480.0), 640, 480) == (-0.1, 0.0, 1.09375, 1.0)
    assert geometry.from_ratios((-0.5, 0.0, 1.5, 2.0), 10, 10) == (-5.0, 0.0, 15.0, 20.0)


def test_points_round_trip_through_ratios() -> None:
    points = [(0.0, 0.0), (320.0, 120.0), (640.0, 480.0)]
    ratios = geometry.points_to_ratios(points, 640, 480)
    assert ratios == [(0.0, 0.0), (0.5, 0.25), (1.0, 1.0)]
    assert geometry.points_from_ratios(ratios, 640, 480) == points


def test_ratios_divide_rather_than_multiply_by_a_reciprocal() -> None:
    # 0.7 / 0.1 and 0.7 * (1 / 0.1) differ in the last bit; the wire output depends on which.
    assert 0.7 / 0.1 != 0.7 * (1 / 0.1)
    assert geometry.to_ratios((0.7, 0.7, 0.7, 0.7), 0.1, 0.1)[0] == 0.7 / 0.1
    assert geometry.points_to_ratios([(0.7, 0.7)], 0.1, 0.1) == [(0.7 / 0.1, 0.7 / 0.1)]


def test_rounding_to_whole_pixels_rounds_halves_to_even() -> None:
    assert geometry.round_box((0.4, 0.5, 1.5, 2.6)) == (0, 0, 2, 3)
    assert geometry.round_points([(2.5, -0.6), (3.49, 7.5)]) == [(2, -1), (3, 8)]
    assert all(isinstance(v, int) for v in geometry.round_box((1.2, 3.4, 5.6, 7.8)))


def test_to_quad_cuts_long_polygons_and_pads_short_ones() -> None:
    five = [(1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 2.0), (9.0, 9.0)]
    assert geometry.to_quad(five) == tuple(five[:4])
    two = [(1.0, 1.0), (5.0, 1.0)]
    assert geometry.to_quad(two) == ((1.0, 1.0), (5.0, 1.0), (0.0, 0.0), (0.0, 0.0))
    assert geometry.to_quad(two, repeat_last=True) == (
        (1.0, 1.0),
        (5.0, 1.0),
        (5.0, 1.0),
        (5.0, 1.0),
    )
    assert geometry.to_quad([]) == ((0.0, 0.0),) * 4
    assert geometry.to_quad([], repeat_last=True) == ((0.0, 0.0),) * 4
