package bookstore.inventory;

/** How many units one customer may hold back, by customer tier. */
public final class ReservationRule {
    /** Units that always stay on the shelf for walk-in customers. */
    static final int SHELF_RESERVE = 1;

    public static int limit(String tier) {
        switch (tier) {
            case "staff":
                return 10;
            case "member":
                return 4;
            default:
                return 2;
        }
    }

    /** Null when the reservation is allowed, else why not. */
    public static String refusal(String tier, int units, int available) {
        if (units <= 0) {
            return "reserve at least one unit";
        }
        if (units > limit(tier)) {
            return "tier " + tier + " may reserve at most " + limit(tier);
        }
        if (available - units < SHELF_RESERVE) {
            return "only " + available + " on hand";
        }
        return null;
    }
}
