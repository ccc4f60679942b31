package bookstore.inventory;

import java.util.Map;
import java.util.TreeMap;

/** Units on hand per SKU. */
public final class StockLedger {
    private final Map<String, Integer> onHand = new TreeMap<>();

    public synchronized int quantity(String sku) {
        return onHand.getOrDefault(sku, 0);
    }

    public synchronized void restock(String sku, int units) {
        if (units <= 0) {
            throw new IllegalArgumentException("restock needs a positive quantity, got " + units);
        }
        onHand.merge(sku, units, Integer::sum);
    }

    public synchronized boolean take(String sku, int units) {
        int have = quantity(sku);
        if (units <= 0 || units > have) {
            return false;
        }
        onHand.put(sku, have - units);
        return true;
    }
}
