package router

// table holds the routes of one host key (an exact host, a wildcard suffix,
// or "any host"). All its entries share one host specificity, so inside a
// table only path specificity, priority and order decide.
type table struct {
	exact  map[string][]entry // exact path -> entries, best first
	prefix map[string][]entry // configured prefix -> entries, best first
	// prefixLen[n] is true when some prefix is n bytes long, so Match only
	// probes the prefix map at cut lengths that can hit.
	prefixLen []bool
	regex     []entry // best first
	// fold is set when some exact or prefix entry folds case.
	fold bool
}

func newTable() *table {
	return &table{exact: map[string][]entry{}, prefix: map[string][]entry{}}
}

func (t *table) add(e entry) {
	k := e.key
	switch e.kind {
	case PathExact:
		t.exact[k] = append(t.exact[k], e)
		t.fold = t.fold || e.fold
	case PathPrefix:
		t.prefix[k] = append(t.prefix[k], e)
		t.fold = t.fold || e.fold
		for len(t.prefixLen) <= len(k) {
			t.prefixLen = append(t.prefixLen, false)
		}
		t.prefixLen[len(k)] = true
	case PathRegex:
		t.regex = append(t.regex, e)
	}
}

// finish sorts every group into match order once all routes are added.
func (t *table) finish() {
	for _, es := range t.exact {
		sortEntries(es)
	}
	for _, es := range t.prefix {
		sortEntries(es)
	}
	sortEntries(t.regex)
}

func (t *table) hasPrefixLen(n int) bool {
	return n < len(t.prefixLen) && t.prefixLen[n]
}
