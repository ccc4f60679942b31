// The scripted tester session of the inventory service, run by scripts/record-demo-java.sh:
// HTTP requests with pauses for about a minute while a second thread dumps the JaCoCo agent's
// tcpserver every 2 s (header + 40 01 00, then read to EOF). Each capture is the agent's raw
// reply minus the final CMDOK (0x20): a valid exec file, stored as hex with its offset.
//
// Usage: java JavaSession.java SERVICE_PORT AGENT_PORT OUT.json
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

public class JavaSession {
    static final long LENGTH_MS = 60_000;
    static final long EVERY_MS = 2_000;

    public static void main(String[] args) throws Exception {
        int service = Integer.parseInt(args[0]);
        int agent = Integer.parseInt(args[1]);
        List<String> captures = new ArrayList<>();
        long start = System.currentTimeMillis();
        Thread dumper = new Thread(() -> {
            try {
                for (long at = 0; at <= LENGTH_MS; at += EVERY_MS) {
                    long wait = start + at - System.currentTimeMillis();
                    if (wait > 0) {
                        Thread.sleep(wait);
                    }
                    byte[] reply = dump(agent);
                    long offset = System.currentTimeMillis() - start;
                    synchronized (captures) {
                        captures.add("{\"at_ms\":" + offset + ",\"exec\":\"" + hex(reply) + "\"}");
                    }
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        dumper.start();

        String[][] steps = {
            // {offset ms, path}
            {"1500", "/health"},
            {"4000", "/stock?sku=go-book"},
            {"7000", "/stock?sku=rust-book"},
            {"11000", "/reserve?sku=go-book&tier=guest&units=1"},
            {"15000", "/reserve?sku=go-book&tier=guest&units=3"},
            {"19000", "/restock?sku=rust-book&units=5"},
            {"23000", "/reserve?sku=rust-book&tier=member&units=4"},
            {"28000", "/restock?sku=rust-book&units=zero"},
            {"32000", "/reserve?sku=go-book&tier=member&units=0"},
            {"37000", "/nope"},
            {"42000", "/reserve?sku=rust-book&tier=member&units=4"},
            {"48000", "/stock?sku=rust-book"},
            {"53000", "/restock?sku=go-book&units=-2"},
        };
        for (String[] step : steps) {
            long wait = start + Long.parseLong(step[0]) - System.currentTimeMillis();
            if (wait > 0) {
                Thread.sleep(wait);
            }
            HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + service + step[1]).openConnection();
            int status = c.getResponseCode();
            InputStream body = status < 400 ? c.getInputStream() : c.getErrorStream();
            String text = body == null ? "" : new String(body.readAllBytes(), StandardCharsets.UTF_8).trim();
            System.err.println(step[0] + " ms " + step[1] + " -> " + status + " " + text);
            c.disconnect();
        }
        dumper.join();
        String json = "{\"format\":1,\"captures\":[\n" + String.join(",\n", captures) + "\n]}\n";
        Files.write(Paths.get(args[2]), json.getBytes(StandardCharsets.UTF_8));
    }

    /** One dump command on its own connection; the agent closes after our EOF. */
    static byte[] dump(int port) throws Exception {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(new byte[] {0x01, (byte) 0xC0, (byte) 0xC0, 0x10, 0x07, 0x40, 0x01, 0x00});
            out.flush();
            s.shutdownOutput();
            ByteArrayOutputStream reply = new ByteArrayOutputStream();
            s.getInputStream().transferTo(reply);
            byte[] bytes = reply.toByteArray();
            if (bytes.length == 0 || bytes[bytes.length - 1] != 0x20) {
                throw new IllegalStateException("agent reply does not end with CMDOK: " + hex(bytes));
            }
            byte[] exec = new byte[bytes.length - 1];
            System.arraycopy(bytes, 0, exec, 0, exec.length);
            return exec;
        }
    }

    static String hex(byte[] bytes) {
        StringBuilder sb = new StringBuilder();
        for (byte b : bytes) {
            sb.append(String.format("%02x", b & 0xff));
        }
        return sb.toString();
    }
}
