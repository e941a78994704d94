#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# stagetrace report on live data, in every format.
#
# Design: a 4-VM testbed (two VMs per hypervisor) with a fwd wire holding
# every frame WIRE_US, one collector, one agent per hypervisor, and traffic
# on four pairs at once: three cross the wire, one stays on hv1. The matrix
# answer (stagetrace matrix --json) is the reference: every pair in it must
# appear in every format, with the same packet counts. Then:
#   - each format is produced (exit 0, non-empty), the extension of -o picks
#     the format when --format is absent;
#   - CSV parses: a quote-aware awk reader finds the same number of columns
#     on every record;
#   - JSON: schema, the wire as the top contributor of every cross-host pair,
#     overall sums equal to the per-pair sums, overall p99 bounded by the
#     per-pair values;
#   - HTML: headless chromium renders it; the screenshot is not blank (a
#     small C program, built here against zlib, decodes the PNG and measures
#     pixel variance and the fraction of coloured pixels, i.e. the SVG
#     heatmaps); the DOM chromium builds holds every pair's label and no
#     script element; a saved answer with a VM named "<script>..." renders
#     as text, not markup (--input);
#   - the error conventions: exit 3 unreachable, 2 usage, 4 no data, each
#     with a one-line error; -h exits 0.
# Everything (testbed, processes, chromium profile) goes away on any exit.
set -u
export ST_TB=${ST_TB:-e2erep}
. "$(dirname "$0")/lib.sh"

# Shares are means x counts, so one stall of S s in a VM's reading adds
# ~rate x S^2 / 2 to a host stage while the wire holds rate x DUR x WIRE_US:
# with 300 us a ~45 ms stall could outrank the wire (top contributor, share
# >= 0.5); with 2000 us it takes ~125 ms, and a wire not charged still fails.
WIRE_US=${WIRE_US:-2000}
RATE=${RATE:-300}
DUR=${DUR:-4}
ST=$O/stagetrace
CHROMIUM=${CHROMIUM:-chromium}

e2e_begin || exit 1
T=$E2E_TMP

# Headless chromium with a fresh profile in the test's temp dir; it runs in
# the background so e2e_cleanup can stop it if the test is interrupted.
chromium_run() {
	local rc
	timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update \
		--disable-sync --hide-scrollbars --user-data-dir="$T/chromium-profile" "$@" \
		2>>"$T/chromium.log" &
	E2E_PIDS+=("$!")
	wait "$!"
	rc=$?
	unset 'E2E_PIDS[${#E2E_PIDS[@]}-1]'
	return $rc
}

# pngstat FILE -> "width height luma_variance nonwhite_fraction colour_fraction"
build_pngstat() {
	cat >"$T/pngstat.c" <<'EOF'
/* Decodes an 8-bit RGB/RGBA non-interlaced PNG and prints pixel statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static unsigned be32(const unsigned char *p) { return (unsigned)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

int main(int argc, char **argv)
{
	FILE *f = fopen(argv[1], "rb");
	static unsigned char buf[64 << 20];
	size_t n, off = 8, zlen = 0;
	unsigned w = 0, h = 0, bpp = 0;
	unsigned char *z, *raw, *prev;
	uLongf rawlen;
	double sum = 0, sum2 = 0, nonwhite = 0, colour = 0;

	if (argc != 2 || !f)
		return 2;
	n = fread(buf, 1, sizeof(buf), f);
	if (n < 33 || memcmp(buf, "\x89PNG\r\n\x1a\n", 8))
		return 3;
	z = malloc(n);
	while (off + 12 <= n) {
		unsigned len = be32(buf + off);
		const unsigned char *type = buf + off + 4, *d = buf + off + 8;

		if (off + 12 + len > n)
			return 3;
		if (!memcmp(type, "IHDR", 4)) {
			w = be32(d);
			h = be32(d + 4);
			if (d[8] != 8 || (d[9] != 2 && d[9] != 6) || d[12] != 0)
				return 4;
			bpp = d[9] == 6 ? 4 : 3;
		} else if (!memcmp(type, "IDAT", 4)) {
			memcpy(z + zlen, d, len);
			zlen += len;
		}
		off += 12 + len;
	}
	if (!w || !h)
		return 3;
	rawlen = (uLongf)h * (1 + w * bpp);
	raw = malloc(rawlen);
	prev = calloc(w * bpp, 1);
	if (uncompress(raw, &rawlen, z, zlen) != Z_OK)
		return 5;
	for (unsigned y = 0; y < h; y++) {
		unsigned char *row = raw + (size_t)y * (1 + w * bpp), ft = row[0], *px = row + 1;

		for (unsigned i = 0; i < w * bpp; i++) {
			int a = i >= bpp ? px[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
			int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);

			switch (ft) {
			case 1: px[i] += a; break;
			case 2: px[i] += b; break;
			case 3: px[i] += (a + b) / 2; break;
			case 4: px[i] += pa <= pb && pa <= pc ? a : pb <= pc ? b : c; break;
			}
		}
		for (unsigned x = 0; x < w; x++) {
			int r = px[x * bpp], g = px[x * bpp + 1], bl = px[x * bpp + 2];
			int mx = r > g ? (r > bl ? r : bl) : (g > bl ? g : bl);
			int mn = r < g ? (r < bl ? r : bl) : (g < bl ? g : bl);
			double l = 0.2126 * r + 0.7152 * g + 0.0722 * bl;

			sum += l;
			sum2 += l * l;
			nonwhite += mn < 245;
			colour += mx - mn > 80;
		}
		memcpy(prev, px, w * bpp);
	}
	n = (size_t)w * h;
	printf("%u %u %.1f %.4f %.4f\n", w, h, sum2 / n - (sum / n) * (sum / n), nonwhite / n,
	       colour / n);
	return 0;
}
EOF
	gcc -O2 -o "$T/pngstat" "$T/pngstat.c" -lz
}

# jq_true FILTER FILE: the filter's result is true (for check, which shows output).
jq_true() { jq -e "$1" "$2" >/dev/null; }

# Quote-aware CSV record reader: prints the field count of every record.
csv_field_counts() {
	awk 'BEGIN { RS = "\r\n"; q = 0; n = 1 }
	{
		line = $0
		for (i = 1; i <= length(line); i++) {
			c = substr(line, i, 1)
			if (c == "\"") q = !q
			else if (c == "," && !q) n++
		}
		if (q) { n = n; next }	# a quoted field spans records: keep counting
		print n; n = 1
	}' "$1"
}

# --- testbed, agents, traffic ------------------------------------------------
TB_QUIET=1 tb_up --wire fwd --wire-delay-us "$WIRE_US" \
	--vms "hv1:vma:10.10.0.1 hv1:vmc:10.10.0.3 hv2:vmb:10.10.0.2 hv2:vmd:10.10.0.4" \
	--vm-opt "vmd:reply_delay_us=500" || exit 1
e2e_collector || exit 1
e2e_agent hv1
e2e_agent hv2
e2e_wait_agents 2 || exit 1
tpids=()
tb_traffic --from vma --to vmb --proto udp --rate "$RATE" --duration "$DUR" >"$T/t1.json" & tpids+=($!)
tb_traffic --from vmc --to vmd --proto tcp --rate "$RATE" --duration "$DUR" >"$T/t2.json" & tpids+=($!)
tb_traffic --from vma --to vmd --proto icmp --rate 100 --duration "$DUR" >"$T/t3.json" & tpids+=($!)
tb_traffic --from vmc --to vma --proto udp --rate 100 --duration "$DUR" >"$T/t4.json" & tpids+=($!)
wait "${tpids[@]}" || exit 1
e2e_stop_agents 3

e2e_matrix --last 10m >"$T/m.json" || { e2e_log "matrix query failed"; exit 1; }
mapfile -t PAIRS < <(jq -r '.cells[] | "\(.src) \(.dst)"' "$T/m.json")
check "matrix has the 4 flows both ways (${#PAIRS[@]} pairs)" test "${#PAIRS[@]}" -ge 8
CROSS="vma:vmb vmc:vmd vma:vmd vmb:vma vmd:vmc vmd:vma"

# --- every format --------------------------------------------------------------
R=("$ST" report -C "$E2E_QUERY" --last 10m)
for fmt in text markdown csv json html; do
	"${R[@]}" --format "$fmt" -o "$T/report.$fmt" 2>"$T/err.$fmt"
	rc=$?
	check "format $fmt: exit 0" test "$rc" = 0
	check "format $fmt: output not empty" test -s "$T/report.$fmt"
done
"${R[@]}" >"$T/stdout.txt" 2>/dev/null
check "text is the default, on stdout" cmp -s "$T/stdout.txt" "$T/report.text"
"${R[@]}" -o "$T/by-ext.md" 2>/dev/null
check "-o FILE.md picks markdown" grep -q '^| pair | packets |' "$T/by-ext.md"
"${R[@]}" -o "$T/by-ext.html" 2>/dev/null
check "-o FILE.html picks html" grep -q '^<!DOCTYPE html>' "$T/by-ext.html"
[[ -n ${E2E_VERBOSE:-} ]] && cat "$T/report.text"

# --- every pair in every format -----------------------------------------------------
missing_md= missing_csv= missing_json= missing_text=
for pair in "${PAIRS[@]}"; do
	set -- $pair
	grep -qF "| $1 → $2 |" "$T/report.markdown" || missing_md+=" $1->$2"
	awk -F, -v s="$1" -v d="$2" '$1 == "pair" && $2 == s && $3 == d { f = 1 } END { exit !f }' \
		"$T/report.csv" || missing_csv+=" $1->$2"
	want=$(cell "$T/m.json" "$1" "$2" .count)
	got=$(jq -r --arg s "$1" --arg d "$2" '.pairs[] | select(.src==$s and .dst==$d) | .packets' \
		"$T/report.json")
	[[ $got == "$want" ]] || missing_json+=" $1->$2($got!=$want)"
	grep -q "^$1 -> $2 " "$T/report.text" || missing_text+=" $1->$2"
done
check "markdown has every pair${missing_md:+ (missing:$missing_md)}" test -z "$missing_md"
check "csv has every pair${missing_csv:+ (missing:$missing_csv)}" test -z "$missing_csv"
check "json has every pair with the matrix's packet count${missing_json:+ ($missing_json)}" \
	test -z "$missing_json"
check "text has every pair${missing_text:+ (missing:$missing_text)}" test -z "$missing_text"

# --- CSV parses -----------------------------------------------------------------------
counts=$(csv_field_counts "$T/report.csv" | sort -u)
check "csv: every record has the header's column count ($(echo $counts))" \
	test "$(echo "$counts" | wc -l)" = 1
check "csv: 31 columns" test "$counts" = 31
check "csv: CRLF line ends" grep -q $'\r$' "$T/report.csv"
rows=$(awk -F, '$1 == "pair"' "$T/report.csv" | wc -l)
stages=$(jq '[.cells[] | (.stages | length) as $n | if $n == 0 then 1 else $n end] | add' "$T/m.json")
check "csv: one row per pair x stage ($rows = $stages)" test "$rows" = "$stages"

# --- JSON ------------------------------------------------------------------------------
J=$T/report.json
check "json: schema stagetrace-report/1" test "$(jq -r .schema "$J")" = stagetrace-report/1
for p in $CROSS; do
	s=${p%:*} d=${p#*:}
	top=$(jq -r --arg s "$s" --arg d "$d" \
		'.pairs[] | select(.src==$s and .dst==$d) | .top_contributors[0].stage' "$J")
	check "json: $s->$d top contributor is wire (${top:-none})" test "$top" = wire
	share=$(jq -r --arg s "$s" --arg d "$d" \
		'.pairs[] | select(.src==$s and .dst==$d) | .top_contributors[0].share' "$J")
	check_range "json: $s->$d wire share" "$share" 0.5 1
done
top=$(jq -r '.pairs[] | select(.src=="vmc" and .dst=="vma") | [.stages[].stage] | index("wire")' "$J")
check "json: same-host vmc->vma has no wire stage" test "$top" = null
check "json: overall packets = sum of pairs" \
	test "$(jq '.overall.packets' "$J")" = "$(jq '[.pairs[].packets] | add' "$J")"
check "json: overall p99 upper bound = largest per-pair p99" \
	test "$(jq '.overall.latency.p99_us.upper_bound' "$J")" = "$(jq '[.pairs[].latency.p99_us] | max' "$J")"
check "json: overall p99 lower bound <= upper bound" \
	jq_true '.overall.latency.p99_us | .lower_bound <= .upper_bound' "$J"
check "json: shares of each pair add up to 1" \
	jq_true '[.pairs[] | [.stages[].share] | add | . > 0.99 and . < 1.01] | all' "$J"
check "json: vmd's turnaround (500 us) on vma->vmd" \
	jq_true '.pairs[] | select(.src=="vma" and .dst=="vmd") | .turnaround.p50_us > 400' "$J"
text_wire_first() { grep -A1 '^vma -> vmb ' "$T/report.text" | grep -q 'top contributors: wire '; }
check "text: vma -> vmb lists wire first" text_wire_first

# --- HTML in a real browser ---------------------------------------------------------------
H=$T/report.html
check "html: self-contained (no external URL but the SVG namespace)" \
	test -z "$(grep -oE '(https?|ftp)://[^"]*' "$H" | grep -v '^http://www.w3.org/2000/svg$')"
check "html: no script" test "$(grep -ci '<script' "$H")" = 0
if ! command -v "$CHROMIUM" >/dev/null; then
	check "chromium is installed (make deps)" false
else
	chromium_run --screenshot="$T/report.png" --window-size=1400,1000 "file://$H" >/dev/null
	check "chromium wrote a screenshot" test -s "$T/report.png"
	if build_pngstat && stats=$("$T/pngstat" "$T/report.png"); then
		read -r pw ph var nonwhite colour <<<"$stats"
		check "screenshot is 1400x1000 ($pw x $ph)" test "$pw x $ph" = "1400 x 1000"
		check_range "screenshot luma variance (not blank)" "$var" 200 100000
		check_range "screenshot non-white fraction" "$nonwhite" 0.05 0.95
		check_range "screenshot coloured fraction (the heatmaps)" "$colour" 0.01 0.9
	else
		check "screenshot decodes" false
	fi
	[[ -n ${E2E_KEEP:-} ]] && e2e_log "screenshot: $T/report.png"
	chromium_run --dump-dom "file://$H" >"$T/dom.html"
	missing=
	for pair in "${PAIRS[@]}"; do
		set -- $pair
		grep -qF "$1 → $2" "$T/dom.html" || missing+=" $1->$2"
	done
	check "html DOM holds every pair${missing:+ (missing:$missing)}" test -z "$missing"
	check "html DOM has the three charts" test "$(grep -o '<svg' "$T/dom.html" | wc -l)" = 3

	# A VM name with markup in it, through a saved answer: text, not markup.
	jq '.cells[0].src = "<script>alert(1)</script><b onmouseover=\"x()\">vm" |
	    .cells[0].stages[0].stage = "<img src=x onerror=y()>"' "$T/m.json" >"$T/evil.json"
	"$ST" report --input "$T/evil.json" -o "$T/evil.html"
	check "html from a hostile answer: exit 0" test $? = 0
	chromium_run --dump-dom "file://$T/evil.html" >"$T/evil-dom.html"
	check "hostile VM name: no script element in the DOM" \
		test "$(grep -ci '<script' "$T/evil-dom.html")" = 0
	check "hostile VM name: no injected element or attribute" \
		test "$(grep -cE '<b onmouseover|<img' "$T/evil-dom.html")" = 0
	check "hostile VM name: shown as text" \
		grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;&lt;b onmouseover="x()"&gt;vm' "$T/evil-dom.html"
fi

# --- errors and help ------------------------------------------------------------------------
"$ST" report -C tcp://127.0.0.1:1 -t 0.5 >"$T/out" 2>"$T/err"
rc=$?
check "unreachable collector: exit 3" test "$rc" = 3
check "unreachable collector: one-line error, nothing on stdout" \
	test "$(wc -l <"$T/err")" = 1 -a ! -s "$T/out"
"$ST" report -C "$E2E_QUERY" --format pdf >/dev/null 2>"$T/err"
check "bad --format: exit 2" test $? = 2
check "bad --format: one-line error" test "$(wc -l <"$T/err")" = 1
"$ST" report -C "$E2E_QUERY" --last 5m --since 1000 >/dev/null 2>&1
check "--last with --since: exit 2" test $? = 2
"$ST" report -C "$E2E_QUERY" --top x >/dev/null 2>&1
check "bad --top: exit 2" test $? = 2
echo keep >"$T/keep.html"
"$ST" report -C "$E2E_QUERY" --since 1000 --until 2000 -o "$T/keep.html" >/dev/null 2>"$T/err"
check "empty range: exit 4" test $? = 4
check "empty range: one-line error" test "$(wc -l <"$T/err")" = 1
check "empty range: -o file left untouched" test "$(cat "$T/keep.html")" = keep
"$ST" report -h >"$T/help" 2>&1
check "-h: exit 0" test $? = 0
help_complete() {
	grep -q 'UPPER BOUND' "$T/help" && grep -q '^  html ' "$T/help" &&
		grep -q '^Examples:' "$T/help" && grep -q '^Exit status' "$T/help"
}
check "-h: documents formats, exactness, examples and exit status" help_complete
check "stagetrace -h lists report" bash -c "'$ST' -h | grep -q '^  report '"
e2e_end
