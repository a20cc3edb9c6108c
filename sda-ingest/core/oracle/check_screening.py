#!/usr/bin/env python3
"""Independent check of sda-ingest-core's conjunction screening.

Reads what the `screening_oracle` example wrote (population.tle and screening.json) and
recomputes everything with the PyPI package `sgp4` (Vallado's SGP4, in its compiled form)
and this script's own search, sharing no code with the Rust crate:

1. Screening of its own: every object propagated every 60 s; for every pair whose sampled
   radius bands can come within the threshold, the relative motion around each sample is
   taken as a straight line over half a step either side, and a pair is a candidate when
   that line comes within the threshold plus a bound on its error (relative acceleration at
   most 2 mu / R_E^3 per km of separation, plus 200 m for the model's other terms). Each
   candidate is refined by golden section on two steps around the sample and kept when the
   separation falls into the bracket and rises out of it (a closest approach strictly
   inside the window) and the miss is under the threshold.
2. Every pair the oracle finds under the threshold (less 10 m, to leave the borderline
   alone) must be in the crate's results with the time of closest approach within 1 s and
   the miss distance within 10 m.
3. Every pair the crate reports is refined again by the oracle around the crate's time:
   time within 1 s, miss within 10 m, each radial/in-track/cross-track component within
   10 m, and the oracle's miss no more than 10 m beyond the threshold.
4. At least 50 close approaches must be compared, and the objects SGP4 fails on must agree.

Both sides use the WGS-84 constants, as the Rust `sgp4` crate's default
(`Constants::from_elements`) does.

Usage: check_screening.py DIR   (exits 1 on any mismatch, 2 on bad input)
"""

import json
import math
import sys
import time

import numpy as np
from sgp4.api import WGS84, Satrec, SatrecArray

STEP_S = 60.0
MU_KM3_S2 = 398600.5
EARTH_RADIUS_KM = 6378.137
ACCEL_BOUND_KM_S2 = 1.03 * MU_KM3_S2 / EARTH_RADIUS_KM**2
TCA_TOLERANCE_S = 1.0
MISS_TOLERANCE_KM = 0.010
AT_LEAST = 50
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def read_3le(path):
    lines = [l.rstrip() for l in open(path, encoding="ascii") if l.strip()]
    sats = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("1 ") and i + 1 < len(lines) and lines[i + 1].startswith("2 "):
            l1, l2 = lines[i], lines[i + 1]
            i += 2
        else:
            l1, l2 = lines[i + 1], lines[i + 2]
            i += 3
        sats.append(Satrec.twoline2rv(l1, l2, WGS84))
    return sats


def jd_fr(unix_s):
    """Julian date split as the sgp4 package wants it: whole part at midnight, fraction."""
    days = np.floor(np.asarray(unix_s) / 86400.0)
    return 2440587.5 + days, np.asarray(unix_s) / 86400.0 - days


class Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b

    def states(self, t):
        jd, fr = jd_fr(t)
        ea, ra, va = self.a.sgp4(float(jd), float(fr))
        eb, rb, vb = self.b.sgp4(float(jd), float(fr))
        if ea or eb:
            raise RuntimeError(f"sgp4 error {ea or eb} at {t}")
        return np.array(ra), np.array(va), np.array(rb), np.array(vb)

    def distance(self, t):
        ra, _, rb, _ = self.states(t)
        return float(np.linalg.norm(rb - ra))

    def closing_rate(self, t):
        ra, va, rb, vb = self.states(t)
        return float(np.dot(rb - ra, vb - va))

    def refine(self, lo, hi):
        """Golden section; None unless the separation falls into [lo, hi] and rises out."""
        if self.closing_rate(lo) >= 0.0 or self.closing_rate(hi) <= 0.0:
            return None
        x1, x2 = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
        f1, f2 = self.distance(x1), self.distance(x2)
        for _ in range(60):
            if f1 < f2:
                hi, x2, f2 = x2, x1, f1
                x1 = hi - GOLDEN * (hi - lo)
                f1 = self.distance(x1)
            else:
                lo, x1, f1 = x1, x2, f2
                x2 = lo + GOLDEN * (hi - lo)
                f2 = self.distance(x2)
        tca = (lo + hi) / 2.0
        ra, va, rb, vb = self.states(tca)
        miss = rb - ra
        radial = ra / np.linalg.norm(ra)
        normal = np.cross(ra, va)
        normal /= np.linalg.norm(normal)
        in_track = np.cross(normal, radial)
        return {
            "tca": tca,
            "miss_distance_km": float(np.linalg.norm(miss)),
            "miss_rtn_km": [float(np.dot(miss, radial)), float(np.dot(miss, in_track)), float(np.dot(miss, normal))],
        }


def oracle_screening(sats, ids, start, end, threshold):
    n = len(sats)
    steps = int(math.ceil((end - start) / STEP_S))
    times = np.minimum(start + STEP_S * np.arange(steps + 1), end)
    jd, fr = jd_fr(times)
    err, r, v = SatrecArray(sats).sgp4(jd, fr)
    failed = {ids[i] for i in range(n) if np.any(err[i] != 0)}
    ok = np.array([ids[i] not in failed for i in range(n)])
    half = STEP_S / 2.0
    # Radius bands: the sampled radius, widened by what the radial rate and gravity allow
    # over half a step either side of each sample.
    radius = np.linalg.norm(r, axis=2)
    rdot = np.abs(np.sum(r * v, axis=2)) / radius
    slack = rdot * half + 0.5 * ACCEL_BOUND_KM_S2 * half * half
    low, high = np.min(radius - slack, axis=1), np.max(radius + slack, axis=1)
    I, J = np.triu_indices(n, 1)
    keep = ok[I] & ok[J] & (low[I] <= high[J] + threshold) & (low[J] <= high[I] + threshold)
    I, J = I[keep], J[keep]
    print(f"oracle: {n} objects, {len(I)} pairs after the radius bands, {len(times)} samples")
    gradient = 2.0 * MU_KM3_S2 / EARTH_RADIUS_KM**3
    candidates = set()
    for k, t in enumerate(times):
        p = r[J, k] - r[I, k]
        w = v[J, k] - v[I, k]
        ww = np.einsum("ij,ij->i", w, w)
        tau = -np.einsum("ij,ij->i", p, w) / np.maximum(ww, 1e-30)
        tau = np.clip(tau, max(-half, start - t), min(half, end - t))
        d_line = np.linalg.norm(p + w * tau[:, None], axis=1)
        reach = np.linalg.norm(p, axis=1) + np.sqrt(ww) * half
        bound = 0.5 * (gradient * reach + 2e-5) * half * half + 0.2
        for c in np.nonzero(d_line < threshold + bound)[0]:
            candidates.add((int(I[c]), int(J[c]), k))
    print(f"oracle: {len(candidates)} candidate samples to refine")
    found = {}
    for i, j, k in sorted(candidates):
        lo, hi = max(start, times[k] - STEP_S), min(end, times[k] + STEP_S)
        c = Pair(sats[i], sats[j]).refine(lo, hi)
        if c is None or c["miss_distance_km"] >= threshold:
            continue
        a, b = sorted((ids[i], ids[j]))
        same = [x for x in found.get((a, b), []) if abs(x["tca"] - c["tca"]) < TCA_TOLERANCE_S]
        if not same:
            found.setdefault((a, b), []).append(c)
    return found, failed


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = sys.argv[1]
    report = json.load(open(f"{folder}/screening.json"))
    sats = read_3le(f"{folder}/population.tle")
    ids = [s.satnum for s in sats]
    by_id = dict(zip(ids, sats))
    start, end, threshold = report["start_unix_s"], report["end_unix_s"], report["threshold_km"]
    ours = report["conjunctions"]
    if len(sats) != report["objects"]:
        print(f"population has {len(sats)} objects, the report {report['objects']}")
        return 2

    started = time.time()
    oracle, oracle_failed = oracle_screening(sats, ids, start, end, threshold)
    oracle_list = [dict(c, a=a, b=b) for (a, b), cs in oracle.items() for c in cs]
    print(f"oracle: {len(oracle_list)} close approaches under {threshold} km in {time.time() - started:.1f} s")

    problems = []
    if oracle_failed != set(report["failed"]):
        problems.append(f"objects failing sgp4 differ: oracle {sorted(oracle_failed)}, crate {report['failed']}")
    compared = 0
    checks = 0
    worst = {"tca": 0.0, "miss": 0.0, "rtn": 0.0}

    def ours_near(a, b, tca):
        return [c for c in ours if (c["a"], c["b"]) == (a, b) and abs(c["tca"] - tca) <= TCA_TOLERANCE_S]

    for o in oracle_list:
        if o["miss_distance_km"] >= threshold - MISS_TOLERANCE_KM:
            continue  # borderline: either side may keep it
        checks += 1
        hits = ours_near(o["a"], o["b"], o["tca"])
        if not hits:
            problems.append(f"crate missed {o['a']}-{o['b']} at {o['tca']:.3f}, miss {o['miss_distance_km']:.4f} km")
        elif abs(hits[0]["miss_distance_km"] - o["miss_distance_km"]) > MISS_TOLERANCE_KM:
            problems.append(f"{o['a']}-{o['b']}: miss {hits[0]['miss_distance_km']:.4f} km, oracle {o['miss_distance_km']:.4f} km")

    for c in ours:
        checks += 1
        pair = Pair(by_id[c["a"]], by_id[c["b"]])
        o = pair.refine(max(start, c["tca"] - 30.0), min(end, c["tca"] + 30.0))
        label = f"{c['a']}-{c['b']} at {c['tca']:.3f}"
        if o is None:
            problems.append(f"{label}: the oracle finds no closest approach there")
            continue
        compared += 1
        dt = abs(o["tca"] - c["tca"])
        dm = abs(o["miss_distance_km"] - c["miss_distance_km"])
        drtn = max(abs(x - y) for x, y in zip(o["miss_rtn_km"], c["miss_rtn_km"]))
        worst = {"tca": max(worst["tca"], dt), "miss": max(worst["miss"], dm), "rtn": max(worst["rtn"], drtn)}
        if dt > TCA_TOLERANCE_S or dm > MISS_TOLERANCE_KM or drtn > MISS_TOLERANCE_KM:
            problems.append(f"{label}: oracle tca off by {dt:.6f} s, miss by {dm * 1e3:.3f} m, rtn by {drtn * 1e3:.3f} m")
        if o["miss_distance_km"] > threshold + MISS_TOLERANCE_KM:
            problems.append(f"{label}: the oracle puts it at {o['miss_distance_km']:.4f} km, beyond the threshold")
        in_oracle = [x for x in oracle.get((c["a"], c["b"]), []) if abs(x["tca"] - c["tca"]) <= TCA_TOLERANCE_S]
        if not in_oracle and o["miss_distance_km"] < threshold - MISS_TOLERANCE_KM:
            problems.append(f"{label}: reported by the crate, not found by the oracle's own screening")

    if compared < AT_LEAST:
        problems.append(f"only {compared} close approaches compared, at least {AT_LEAST} needed")
    print(
        f"compared {compared} close approaches (oracle found {len(oracle_list)}): "
        f"largest differences tca {worst['tca'] * 1e3:.3f} ms, miss {worst['miss'] * 1e3:.3f} m, "
        f"rtn component {worst['rtn'] * 1e3:.3f} m"
    )
    for p in problems:
        print("MISMATCH " + p)
    # One check per oracle approach and per crate approach; a check can fail more than once.
    failed_checks = min(checks, len(problems))
    print(f"{checks - failed_checks} passed, {failed_checks} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
