#!/usr/bin/env bash
# Open the page `audit --out-html` writes in headless Chromium (Debian's
# `chromium` package), and check that it renders one scatter plot per
# no-reference second opinion; keep a screenshot to look at.
#
#   bash tests/browser/check_html.sh [target/release/second-opinion] [OUT_DIR]
#
# The table is the reference's 24-row synthetic fixture plus two second
# opinions: DOVER-Mobile in VMAF's order, Q-Align in the reverse order (its
# extreme rows are flagged as disagreeing). The page runs a few lines of
# inline script that count the <svg class="scatter"> elements with a laid-out
# size and at least one point, into <body data-rendered-plots="N">; the DOM
# Chromium dumps after rendering must say N = 2. The screenshot is
# OUT_DIR/audit.png (default target/browser/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:-$root/target/release/second-opinion}")
out=$(mkdir -p "${2:-$root/target/browser}" && cd "${2:-$root/target/browser}" && pwd)
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then
    echo "check_html.sh: no chromium (apt-get install chromium)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

awk 'BEGIN {
    for (i = 0; i < 24; i++) {
        alt = (i % 2) ? -1 : 1
        printf "{\"src\": \"clip-%02d.mp4\", \"vmaf\": %.1f, \"adm2\": %.2f, \"vif_scale0\": %.5f, ", i, 50 + i, 0.50 + 0.01 * i, 0.50 + 0.01 * i + 0.00001 * alt
        printf "\"motion2\": %.1f, \"float_ms_ssim\": %.3f, \"ssimulacra2\": %.2f, \"cambi\": %.2f, ", i % 7, 0.70 + 0.005 * i, 20 + 0.75 * i, 1 + 0.05 * i
        printf "\"ciede2000\": %.2f, \"bitdepth\": 10, \"chug_bitrate_mbps\": %.2f, \"mos\": %.6f, ", 3 + 0.04 * (23 - i), 2 + 0.2 * i + 0.75 * alt, 1 + 4 * i / 23
        printf "\"second_opinion_dover_mobile_score\": %.1f, \"second_opinion_q_align_score\": %.1f}\n", 60 + i, 62 + 0.5 * (23 - i)
    }
}' > "$work/features.jsonl"

"$bin" --registry "$work/registry.db" audit --input synthetic="$work/features.jsonl" \
    --out-json "$work/audit.json" --out-md "$work/audit.md" --out-html "$out/audit.html" \
    --disagreement-threshold 0.3 >/dev/null

expected=$(grep -o '<svg class="scatter"' "$out/audit.html" | wc -l)
if [[ "$expected" -ne 2 ]]; then
    echo "check_html.sh: the page holds $expected scatter plots, expected 2" >&2
    exit 1
fi

# Flags as the machine notes give them: no sandbox as root, no GPU, and no
# background networking (this machine has no network to talk to).
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --hide-scrollbars --user-data-dir="$work/profile")
"$browser" "${flags[@]}" --virtual-time-budget=5000 --dump-dom "file://$out/audit.html" \
    > "$work/dom.html" 2> "$work/chromium.log" || {
        cat "$work/chromium.log" >&2
        exit 1
    }
rendered=$(grep -o 'data-rendered-plots="[0-9]*"' "$work/dom.html" | grep -o '[0-9]*' || true)
if [[ "$rendered" != "$expected" ]]; then
    echo "check_html.sh: Chromium rendered '${rendered:-no}' plots, expected $expected" >&2
    exit 1
fi

"$browser" "${flags[@]}" --window-size=1280,3200 --screenshot="$out/audit.png" \
    "file://$out/audit.html" 2>> "$work/chromium.log" >/dev/null || {
        cat "$work/chromium.log" >&2
        exit 1
    }
size=$(stat -c %s "$out/audit.png" 2>/dev/null || echo 0)
if [[ "$size" -lt 20000 ]]; then
    echo "check_html.sh: screenshot $out/audit.png is $size bytes: nothing rendered?" >&2
    exit 1
fi
echo "check_html.sh: Chromium rendered $rendered of $expected scatter plots; screenshot $out/audit.png"
