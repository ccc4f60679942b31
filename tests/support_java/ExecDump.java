import java.io.File;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.jacoco.core.data.ExecutionData;
import org.jacoco.core.data.SessionInfo;
import org.jacoco.core.tools.ExecFileLoader;

/**
 * Loads exec files with JaCoCo's own ExecFileLoader (merging them as JaCoCo does) and prints
 * what it read, for comparison with covtop's reader:
 *   session <id> <start> <dump>          (sorted by id, start, dump)
 *   class <id %016x> <vm name> <probes as 0/1>   (sorted by id)
 * Exit 1 with the exception on stderr if JaCoCo rejects a file.
 */
public class ExecDump {
    public static void main(String[] args) throws Exception {
        ExecFileLoader loader = new ExecFileLoader();
        for (String a : args) {
            loader.load(new File(a));
        }
        List<SessionInfo> sessions = new ArrayList<>(loader.getSessionInfoStore().getInfos());
        sessions.sort(Comparator.comparing(SessionInfo::getId)
                .thenComparingLong(SessionInfo::getStartTimeStamp)
                .thenComparingLong(SessionInfo::getDumpTimeStamp));
        StringBuilder out = new StringBuilder();
        for (SessionInfo s : sessions) {
            out.append("session ").append(s.getId()).append(' ').append(s.getStartTimeStamp())
                    .append(' ').append(s.getDumpTimeStamp()).append('\n');
        }
        List<ExecutionData> classes = new ArrayList<>(loader.getExecutionDataStore().getContents());
        classes.sort((a, b) -> Long.compareUnsigned(a.getId(), b.getId()));
        for (ExecutionData d : classes) {
            out.append("class ").append(String.format("%016x", d.getId())).append(' ')
                    .append(d.getName()).append(' ');
            for (boolean p : d.getProbes()) {
                out.append(p ? '1' : '0');
            }
            out.append('\n');
        }
        System.out.print(out);
    }
}
