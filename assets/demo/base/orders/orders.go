// Package orders places orders against the catalog.
package orders

import (
	"errors"

	"example.com/bookstore/catalog"
)

// ErrUnknownBook is returned for an id the catalog does not have.
var ErrUnknownBook = errors.New("unknown book")

// ErrOutOfStock is returned when a book has no copies left.
var ErrOutOfStock = errors.New("out of stock")

// Order is a placed order.
type Order struct {
	BookID     string
	Qty        int
	TotalCents int
}

// Place checks the catalog and prices the order.
func Place(c *catalog.Catalog, id string, qty int) (Order, error) {
	b, ok := c.Lookup(id)
	if !ok {
		return Order{}, ErrUnknownBook
	}
	if b.Stock < qty {
		return Order{}, ErrOutOfStock
	}
	return Order{BookID: id, Qty: qty, TotalCents: b.PriceCents * qty}, nil
}
