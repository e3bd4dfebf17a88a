"""Numbers and sums written out in Spanish words (ASCII, accents dropped): the leak
laboratory's re-encoding that no string check can match ("Q:47+12" becomes
"Q:cuarenta y siete mas doce")."""

from __future__ import annotations

UNITS = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once", "doce",
         "trece", "catorce", "quince", "dieciseis", "diecisiete", "dieciocho", "diecinueve", "veinte", "veintiuno",
         "veintidos", "veintitres", "veinticuatro", "veinticinco", "veintiseis", "veintisiete", "veintiocho",
         "veintinueve"]
TENS = {3: "treinta", 4: "cuarenta", 5: "cincuenta", 6: "sesenta", 7: "setenta", 8: "ochenta", 9: "noventa"}
PLUS = "mas"


def number(v: int) -> str:
    """0 <= v < 200 in Spanish words: 47 -> 'cuarenta y siete', 112 -> 'ciento doce'."""
    if not 0 <= v < 200:
        raise ValueError(f"{v}: only 0..199 are written out")
    if v >= 100:
        return "cien" if v == 100 else f"ciento {number(v - 100)}"
    if v < 30:
        return UNITS[v]
    t, u = divmod(v, 10)
    return TENS[t] if u == 0 else f"{TENS[t]} y {UNITS[u]}"


def question(a: int, b: int) -> str:
    return f"{number(a)} {PLUS} {number(b)}"
