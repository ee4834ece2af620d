package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// The variants, in table order.
const (
	vDirect     = "direct"
	vOpenSSH    = "openssh"
	vForward    = "loopgate-forward"
	vProxy      = "loopgate-proxy"
	vSSHGateway = "ssh-to-gateway"
)

var allVariants = []string{vDirect, vOpenSSH, vForward, vProxy, vSSHGateway}

// columnNames are the table's column heads.
var columnNames = map[string]string{
	vDirect:     "direct",
	vOpenSSH:    "OpenSSH",
	vForward:    "lg forward",
	vProxy:      "lg proxy",
	vSSHGateway: "ssh->gateway",
}

// isLoopgate reports a variant with loopgate on at least one end: its
// figures get a ratio to OpenSSH's.
func isLoopgate(v string) bool { return v == vForward || v == vProxy || v == vSSHGateway }

// metric is one row of the table.
type metric struct {
	Key    string // stable name, for JSON
	Label  string // what the table shows
	Unit   string
	Higher bool // higher is better
}

// results collects one value per repeat for each metric and variant.
type results struct {
	order   []metric
	samples map[string]map[string][]float64
	notes   []string
}

func newResults() *results {
	return &results{samples: make(map[string]map[string][]float64), notes: []string{}}
}

// addOverDirect adds the row m, placed after the row after: for each
// tunnelled variant, the median of the row from less direct's median (the
// latency a tunnel adds).
func (r *results) addOverDirect(m metric, from, after string) {
	byVariant := r.samples[from]
	base := median(byVariant[vDirect])
	if math.IsNaN(base) {
		return
	}
	for _, v := range allVariants {
		if xs, ok := byVariant[v]; ok && v != vDirect {
			r.add(m, v, median(xs)-base)
		}
	}
	r.moveAfter(m.Key, after)
}

// moveAfter moves the row key to just after the row after.
func (r *results) moveAfter(key, after string) {
	i := slices.IndexFunc(r.order, func(m metric) bool { return m.Key == key })
	if i < 0 {
		return
	}
	m := r.order[i]
	order := slices.Delete(slices.Clone(r.order), i, i+1)
	j := slices.IndexFunc(order, func(m metric) bool { return m.Key == after })
	if j < 0 {
		return
	}
	r.order = slices.Insert(order, j+1, m)
}

// add records one repeat's value; NaN or infinite values are dropped.
func (r *results) add(m metric, variant string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	byVariant, ok := r.samples[m.Key]
	if !ok {
		byVariant = make(map[string][]float64)
		r.samples[m.Key] = byVariant
		r.order = append(r.order, m)
	}
	byVariant[variant] = append(byVariant[variant], v)
}

func (r *results) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// median of xs, NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratio is a/b, or false where it means nothing.
func ratio(a, b float64) (float64, bool) {
	if math.IsNaN(a) || math.IsNaN(b) || b <= 0 || a < 0 {
		return 0, false
	}
	return a / b, true
}

// Cell is one variant's figure in a row.
type Cell struct {
	Median    float64   `json:"median"`
	Samples   []float64 `json:"samples"`
	VsOpenSSH *float64  `json:"vs_openssh,omitempty"`
}

// Row is one metric across the variants.
type Row struct {
	Metric string          `json:"metric"`
	Label  string          `json:"label"`
	Unit   string          `json:"unit"`
	Better string          `json:"better"`
	Values map[string]Cell `json:"values"`
}

// Report is the whole result, as printed and as written to JSON.
type Report struct {
	Generated string         `json:"generated"`
	Host      map[string]any `json:"host"`
	Options   map[string]any `json:"options"`
	Variants  []string       `json:"variants"`
	Rows      []Row          `json:"rows"`
	Notes     []string       `json:"notes"`
}

// rows computes medians and ratios, in the order metrics were first seen.
func (r *results) rows() []Row {
	var out []Row
	for _, m := range r.order {
		row := Row{Metric: m.Key, Label: m.Label, Unit: m.Unit, Better: "lower", Values: make(map[string]Cell)}
		if m.Higher {
			row.Better = "higher"
		}
		base := median(r.samples[m.Key][vOpenSSH])
		for v, xs := range r.samples[m.Key] {
			c := Cell{Median: median(xs), Samples: xs}
			if q, ok := ratio(c.Median, base); ok && isLoopgate(v) {
				c.VsOpenSSH = &q
			}
			row.Values[v] = c
		}
		out = append(out, row)
	}
	return out
}

// writeTable prints the report as one aligned table, then the notes.
func writeTable(w io.Writer, rep Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"metric", "unit", "better"}
	for _, v := range rep.Variants {
		head = append(head, columnNames[v])
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, row := range rep.Rows {
		cells := []string{row.Label, row.Unit, row.Better}
		for _, v := range rep.Variants {
			cells = append(cells, formatCell(row.Values[v], isLoopgate(v)))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nmedians of repeats; (N.NNx) = loopgate figure / OpenSSH figure from the same run;")
	fmt.Fprintln(w, "- = not measured for that variant (see bench/README.md)")
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	return nil
}

func formatCell(c Cell, withRatio bool) string {
	if len(c.Samples) == 0 {
		return "-"
	}
	s := formatNumber(c.Median)
	if withRatio && c.VsOpenSSH != nil {
		s += fmt.Sprintf(" (%.2fx)", *c.VsOpenSSH)
	}
	return s
}

// formatNumber keeps three or four significant digits.
func formatNumber(x float64) string {
	switch a := math.Abs(x); {
	case a >= 100 || x == math.Trunc(x):
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	default:
		return fmt.Sprintf("%.3f", x)
	}
}

// writeJSONFile writes the report to path.
func writeJSONFile(path string, rep Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
