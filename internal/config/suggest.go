package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxSuggestLen bounds the words we try to correct: the distance below is
// quadratic, and nobody misspells a 64-byte keyword.
const maxSuggestLen = 64

// didYouMean returns ` (did you mean "x"?)` for the candidate closest to
// word, or "" when none is close enough to be a likely typo.
func didYouMean(word string, candidates []string) string {
	if best := closest(word, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// suggestOrList is didYouMean for short value lists: without a close
// candidate it lists all of them, which is more useful than nothing.
func suggestOrList(word string, candidates []string) string {
	if s := didYouMean(word, candidates); s != "" {
		return s
	}
	quoted := make([]string, len(candidates))
	for i, c := range candidates {
		quoted[i] = strconv.Quote(c)
	}
	return " (expected one of " + strings.Join(quoted, ", ") + ")"
}

// closest picks the candidate with the smallest edit distance to word,
// ignoring case, if it is within max(2, len/3) and does not replace the
// whole word. Ties go to the earlier candidate so that the answer is
// stable.
func closest(word string, candidates []string) string {
	if len(word) > maxSuggestLen {
		return ""
	}
	w := strings.ToLower(word)
	limit := max(2, len(w)/3)
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if len(c) > maxSuggestLen {
			continue
		}
		lc := strings.ToLower(c)
		if abs(len(lc)-len(w)) >= bestDist && !sameWords(w, lc) {
			continue // the length difference alone is too far
		}
		d := editDistance(w, lc)
		if sameWords(w, lc) {
			d = 1 // "log_stats_general_prom" for "log_general_stats_prom"
		}
		if d < bestDist && d < len(w) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours each cost 1, which
// matches the typos people make in keywords ("pool_szie"). Both strings
// must be at most maxSuggestLen bytes long; the rows then live on the stack.
func editDistance(a, b string) int {
	var rows [3][maxSuggestLen + 1]int
	prev2, prev, cur := rows[0][:len(b)+1], rows[1][:len(b)+1], rows[2][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// sameWords reports whether a and b are made of the same underscore-
// separated words in a different order.
func sameWords(a, b string) bool {
	if a == b || len(a) != len(b) {
		return false
	}
	wa, wb := strings.Split(a, "_"), strings.Split(b, "_")
	slices.Sort(wa)
	slices.Sort(wb)
	return slices.Equal(wa, wb)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
