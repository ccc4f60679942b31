package ids;

/** Compiled with --release 8; loads the --release 9 and 17 classes by name so each runs. */
public class Run8 {
    public static void main(String[] args) throws Exception {
        int sum = args.length > 5 ? 1 : 2;
        for (String name : new String[] {"ids.Nine", "ids.Seventeen"}) {
            sum += (Integer) Class.forName(name).getMethod("value").invoke(null);
        }
        System.out.println("sum=" + sum);
    }
}
