// Package catalog holds the books the store sells.
package catalog

import "strings"

// Book is one title in the catalog.
type Book struct {
	ID         string
	Title      string
	Author     string
	PriceCents int
	Stock      int
}

// Catalog is an in-memory list of books.
type Catalog struct {
	books map[string]Book
}

// New returns a catalog with a few books.
func New() *Catalog {
	c := &Catalog{books: map[string]Book{}}
	for _, b := range []Book{
		{"b1", "The Go Programming Language", "Donovan", 3999, 5},
		{"b2", "Java Concurrency in Practice", "Goetz", 4599, 2},
		{"b3", "Designing Data-Intensive Applications", "Kleppmann", 4299, 0},
	} {
		c.books[b.ID] = b
	}
	return c
}

// Lookup finds a book by id.
func (c *Catalog) Lookup(id string) (Book, bool) {
	b, ok := c.books[id]
	return b, ok
}

// Search returns the books whose title contains q, ignoring case.
func (c *Catalog) Search(q string) []Book {
	q = strings.ToLower(q)
	var out []Book
	for _, b := range c.books {
		if strings.Contains(strings.ToLower(b.Title), q) {
			out = append(out, b)
		}
	}
	return out
}
