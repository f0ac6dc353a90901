package tui

// toggle flips one row in a selection; a selection holds only true entries.
func toggle[K comparable](sel map[K]bool, id K) {
	if sel[id] {
		delete(sel, id)
	} else {
		sel[id] = true
	}
}

// toggleAll selects every row shown, or clears them when all are selected already.
func toggleAll[K comparable, R any](sel map[K]bool, rows []R, id func(R) K) {
	all := true
	for _, r := range rows {
		all = all && sel[id(r)]
	}
	for _, r := range rows {
		if all {
			delete(sel, id(r))
		} else {
			sel[id(r)] = true
		}
	}
}
