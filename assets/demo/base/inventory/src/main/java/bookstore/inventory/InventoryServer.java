package bookstore.inventory;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/** The inventory service: a tiny HTTP API over the stock ledger. */
public final class InventoryServer {
    private final StockLedger ledger = new StockLedger();

    public static void main(String[] args) throws IOException {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 8090;
        InventoryServer inventory = new InventoryServer();
        inventory.ledger.restock("go-book", 12);
        inventory.ledger.restock("rust-book", 3);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 16);
        server.createContext("/", inventory::handle);
        server.start();
    }

    void handle(HttpExchange exchange) throws IOException {
        Map<String, String> q = query(exchange.getRequestURI().getRawQuery());
        String sku = q.getOrDefault("sku", "");
        int status = 200;
        String body;
        try {
            switch (exchange.getRequestURI().getPath()) {
                case "/health":
                    body = "ok";
                    break;
                case "/stock":
                    body = sku + " " + ledger.quantity(sku);
                    break;
                case "/restock":
                    ledger.restock(sku, Integer.parseInt(q.getOrDefault("units", "0")));
                    body = sku + " " + ledger.quantity(sku);
                    break;
                default:
                    status = 404;
                    body = "no such endpoint";
            }
        } catch (IllegalArgumentException e) {
            status = 400;
            body = e.getMessage();
        }
        reply(exchange, status, body);
    }

    static Map<String, String> query(String raw) {
        Map<String, String> out = new HashMap<>();
        if (raw == null) {
            return out;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0) {
                out.put(pair.substring(0, eq), pair.substring(eq + 1));
            }
        }
        return out;
    }

    static void reply(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = (body + "\n").getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
