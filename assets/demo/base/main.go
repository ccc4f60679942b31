// Command bookstore serves a tiny book store over HTTP.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"strconv"

	"example.com/bookstore/catalog"
	"example.com/bookstore/orders"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	c := catalog.New()
	http.HandleFunc("/search", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, c.Search(r.URL.Query().Get("q")))
	})
	http.HandleFunc("/order", func(w http.ResponseWriter, r *http.Request) {
		qty, err := strconv.Atoi(r.URL.Query().Get("qty"))
		if err != nil || qty < 1 {
			http.Error(w, "bad qty", http.StatusBadRequest)
			return
		}
		o, err := orders.Place(c, r.URL.Query().Get("id"), qty)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, o)
	})
	log.Printf("bookstore listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

func writeJSON(w http.ResponseWriter, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("write: %v", err)
	}
}
