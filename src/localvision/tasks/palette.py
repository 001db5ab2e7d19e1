"""Colour science for the colours task: sRGB to CIELAB, and naming colours.

CIELAB (D65) is used because distances in it follow perceived differences far better than
distances in RGB, so clusters are colours a person would tell apart. Names are the nearest CSS
named colour, and the basic colour term (black, white, grey, red, orange, yellow, green, blue,
purple, pink, brown) of the nearest of a few typical values of each, by CIE76 distance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BASIC_COLORS", "CSS_COLORS", "nearest_name", "srgb_to_lab"]

_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_EPSILON = (6 / 29) ** 3


def srgb_to_lab(rgb: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """CIELAB (D65) for an ``(..., 3)`` array of sRGB values in 0..255."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = (linear @ _SRGB_TO_XYZ.T) / _WHITE_D65
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lab: np.ndarray[Any, Any] = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


# CSS Color Module Level 4 named colours (grey/gray spelling variants collapsed to one entry).
CSS_COLORS: dict[str, str] = {
    "aliceblue": "f0f8ff",
    "antiquewhite": "faebd7",
    "aqua": "00ffff",
    "aquamarine": "7fffd4",
    "azure": "f0ffff",
    "beige": "f5f5dc",
    "bisque": "ffe4c4",
    "black": "000000",
    "blanchedalmond": "ffebcd",
    "blue": "0000ff",
    "blueviolet": "8a2be2",
    "brown": "a52a2a",
    "burlywood": "deb887",
    "cadetblue": "5f9ea0",
    "chartreuse": "7fff00",
    "chocolate": "d2691e",
    "coral": "ff7f50",
    "cornflowerblue": "6495ed",
    "cornsilk": "fff8dc",
    "crimson": "dc143c",
    "darkblue": "00008b",
    "darkcyan": "008b8b",
    "darkgoldenrod": "b8860b",
    "darkgray": "a9a9a9",
    "darkgreen": "006400",
    "darkkhaki": "bdb76b",
    "darkmagenta": "8b008b",
    "darkolivegreen": "556b2f",
    "darkorange": "ff8c00",
    "darkorchid": "9932cc",
    "darkred": "8b0000",
    "darksalmon": "e9967a",
    "darkseagreen": "8fbc8f",
    "darkslateblue": "483d8b",
    "darkslategray": "2f4f4f",
    "darkturquoise": "00ced1",
    "darkviolet": "9400d3",
    "deeppink": "ff1493",
    "deepskyblue": "00bfff",
    "dimgray": "696969",
    "dodgerblue": "1e90ff",
    "firebrick": "b22222",
    "floralwhite": "fffaf0",
    "forestgreen": "228b22",
    "fuchsia": "ff00ff",
    "gainsboro": "dcdcdc",
    "ghostwhite": "f8f8ff",
    "gold": "ffd700",
    "goldenrod": "daa520",
    "gray": "808080",
    "green": "008000",
    "greenyellow": "adff2f",
    "honeydew": "f0fff0",
    "hotpink": "ff69b4",
    "indianred": "cd5c5c",
    "indigo": "4b0082",
    "ivory": "fffff0",
    "khaki": "f0e68c",
    "lavender": "e6e6fa",
    "lavenderblush": "fff0f5",
    "lawngreen": "7cfc00",
    "lemonchiffon": "fffacd",
    "lightblue": "add8e6",
    "lightcoral": "f08080",
    "lightcyan": "e0ffff",
    "lightgoldenrodyellow": "fafad2",
    "lightgray": "d3d3d3",
    "lightgreen": "90ee90",
    "lightpink": "ffb6c1",
    "lightsalmon": "ffa07a",
    "lightseagreen": "20b2aa",
    "lightskyblue": "87cefa",
    "lightslategray": "778899",
    "lightsteelblue": "b0c4de",
    "lightyellow": "ffffe0",
    "lime": "00ff00",
    "limegreen": "32cd32",
    "linen": "faf0e6",
    "maroon": "800000",
    "mediumaquamarine": "66cdaa",
    "mediumblue": "0000cd",
    "mediumorchid": "ba55d3",
    "mediumpurple": "9370db",
    "mediumseagreen": "3cb371",
    "mediumslateblue": "7b68ee",
    "mediumspringgreen": "00fa9a",
    "mediumturquoise": "48d1cc",
    "mediumvioletred": "c71585",
    "midnightblue": "191970",
    "mintcream": "f5fffa",
    "mistyrose": "ffe4e1",
    "moccasin": "ffe4b5",
    "navajowhite": "ffdead",
    "navy": "000080",
    "oldlace": "fdf5e6",
    "olive": "808000",
    "olivedrab": "6b8e23",
    "orange": "ffa500",
    "orangered": "ff4500",
    "orchid": "da70d6",
    "palegoldenrod": "eee8aa",
    "palegreen": "98fb98",
    "paleturquoise": "afeeee",
    "palevioletred": "db7093",
    "papayawhip": "ffefd5",
    "peachpuff": "ffdab9",
    "peru": "cd853f",
    "pink": "ffc0cb",
    "plum": "dda0dd",
    "powderblue": "b0e0e6",
    "purple": "800080",
    "rebeccapurple": "663399",
    "red": "ff0000",
    "rosybrown": "bc8f8f",
    "royalblue": "4169e1",
    "saddlebrown": "8b4513",
    "salmon": "fa8072",
    "sandybrown": "f4a460",
    "seagreen": "2e8b57",
    "seashell": "fff5ee",
    "sienna": "a0522d",
    "silver": "c0c0c0",
    "skyblue": "87ceeb",
    "slateblue": "6a5acd",
    "slategray": "708090",
    "snow": "fffafa",
    "springgreen": "00ff7f",
    "steelblue": "4682b4",
    "tan": "d2b48c",
    "teal": "008080",
    "thistle": "d8bfd8",
    "tomato": "ff6347",
    "turquoise": "40e0d0",
    "violet": "ee82ee",
    "wheat": "f5deb3",
    "white": "ffffff",
    "whitesmoke": "f5f5f5",
    "yellow": "ffff00",
    "yellowgreen": "9acd32",
}

# Berlin and Kay's eleven basic colour terms, each with a few typical sRGB values (light and
# dark, saturated and muted), so that e.g. tan is "brown" and not the nearer-looking grey.
BASIC_COLORS: dict[str, tuple[str, ...]] = {
    "black": ("000000", "1c1c1c"),
    "white": ("ffffff", "f0f0f0"),
    "grey": ("808080", "a9a9a9", "555555", "c8c8c8"),
    "red": ("ff0000", "b22222", "dc143c", "8b0000", "cd5c5c"),
    "orange": ("ffa500", "ff8c00", "ff7f50", "e9967a"),
    "yellow": ("ffff00", "ffd700", "f0e68c", "fffacd"),
    "green": ("008000", "00ff00", "556b2f", "90ee90", "2e8b57", "6b8e23"),
    "blue": ("0000ff", "4169e1", "87ceeb", "000080", "4682b4", "00bfff"),
    "purple": ("800080", "9370db", "4b0082", "ba55d3", "dda0dd"),
    "pink": ("ffc0cb", "ff69b4", "db7093", "ffb6c1"),
    "brown": ("8b4513", "a0522d", "d2b48c", "654321", "deb887", "bc8f8f"),
}


def _lab_table(table: dict[str, tuple[str, ...]]) -> tuple[list[str], np.ndarray[Any, Any]]:
    names = [name for name, values in table.items() for _ in values]
    rgb = np.array(
        [[int(h[i : i + 2], 16) for i in (0, 2, 4)] for values in table.values() for h in values]
    )
    return names, srgb_to_lab(rgb)


_CSS_NAMES, _CSS_LAB = _lab_table({name: (value,) for name, value in CSS_COLORS.items()})
_BASIC_NAMES, _BASIC_LAB = _lab_table(BASIC_COLORS)


def nearest_name(rgb: tuple[int, int, int], *, basic: bool = False) -> str:
    """The CSS (or, with ``basic``, the basic-term) name nearest to ``rgb`` in CIELAB."""
    names, table = (_BASIC_NAMES, _BASIC_LAB) if basic else (_CSS_NAMES, _CSS_LAB)
    distances = np.linalg.norm(table - srgb_to_lab(np.array(rgb)), axis=1)
    return names[int(distances.argmin())]
