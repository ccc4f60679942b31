// Package orders places orders against the catalog.
package orders

import (
	"errors"
	"strings"

	"example.com/bookstore/catalog"
)

// ErrUnknownBook is returned for an id the catalog does not have.
var ErrUnknownBook = errors.New("unknown book")

// ErrOutOfStock is returned when a book has no copies left.
var ErrOutOfStock = errors.New("out of stock")

// ErrBadCoupon is returned for a coupon code the store does not know.
var ErrBadCoupon = errors.New("unknown coupon")

// Order is a placed order.
type Order struct {
	BookID     string
	Qty        int
	TotalCents int
	Coupon     string
}

// Place checks the catalog, applies the coupon if any, and prices the order.
func Place(c *catalog.Catalog, id string, qty int, coupon string) (Order, error) {
	b, ok := c.Lookup(id)
	if !ok {
		return Order{}, ErrUnknownBook
	}
	if b.Stock < qty {
		return Order{}, ErrOutOfStock
	}
	total := b.PriceCents * qty
	if coupon != "" {
		off, err := couponPercent(coupon)
		if err != nil {
			return Order{}, err
		}
		total -= total * off / 100
	}
	if qty >= 3 {
		// Bulk orders get another 5% off.
		total -= total * 5 / 100
	}
	return Order{BookID: id, Qty: qty, TotalCents: total, Coupon: coupon}, nil
}

// couponPercent returns the discount of a coupon code.
func couponPercent(code string) (int, error) {
	switch strings.ToUpper(code) {
	case "WELCOME10":
		return 10, nil
	case "STUDENT":
		return 20, nil
	case "STAFF":
		return 30, nil
	default:
		return 0, ErrBadCoupon
	}
}
