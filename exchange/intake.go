package exchange

// accept records a durable, cleanly closed upload as Ontvangen and queues it, in one
// transaction: from here on the processor owns it, across restarts.
func (h *Hub) accept(p *Principal, product Product, name, blob string, size int64) (Upload, error) {
	return h.acceptWith(p, product, name, blob, size, "", nil)
}
