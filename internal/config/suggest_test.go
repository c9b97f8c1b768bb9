package config

import (
	"strings"
	"testing"
)

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"pool", "pool", 0},
		{"pool_szie", "pool_size", 1}, // swap
		{"pool_sie", "pool_size", 1},
		{"listn", "listen", 1},
		{"kitten", "sitting", 3},
		{"", "abc", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	kws := keywordNames(blockUser)
	tests := []struct{ word, want string }{
		{"pool_szie", "pool_size"},
		{"POOL_SZIE", "pool_size"},
		{"authentification", "authentication"},
		{"storage_database", ""},
		{"pool_reserve_prepared_statements", "pool_reserve_prepared_statement"},
		{"xyz", ""},
		{strings.Repeat("a", 1000), ""},
	}
	for _, tt := range tests {
		if got := closest(tt.word, kws); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", truncate(tt.word, 20), got, tt.want)
		}
	}
	if got := closest("log_stats_general_prom", keywordNames(blockTop)); got != "log_general_stats_prom" {
		t.Errorf("reordered words: %q", got)
	}
	if got := suggestOrList("x", []string{"a", "bb"}); got != ` (expected one of "a", "bb")` {
		t.Errorf("suggestOrList: %q", got)
	}
}

// TestKeywordTables guards the tables: names are lower case, unique per
// block, and every implemented keyword exists in its block.
func TestKeywordTables(t *testing.T) {
	for b := blockTop; b <= blockQueryParsing; b++ {
		seen := map[string]bool{}
		for _, name := range keywordNames(b) {
			if name != strings.ToLower(name) || seen[name] {
				t.Errorf("block %d: keyword %q duplicated or not lower case", b, name)
			}
			seen[name] = true
		}
	}
	for block, names := range map[blockID][]string{
		blockTop:     keys(implemented.global),
		blockListen:  keys(implemented.listen),
		blockStorage: keys(implemented.storage),
		blockUser:    keys(implemented.rule),
	} {
		for _, name := range names {
			if lookupKeyword(block, name) == nil {
				t.Errorf("implemented keyword %q is missing from block %d", name, block)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
