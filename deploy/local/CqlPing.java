import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.ResultSet;
import com.datastax.driver.core.Row;
import com.datastax.driver.core.Session;
import com.datastax.driver.core.SocketOptions;

/**
 * Runs one CQL statement against a Cassandra node and prints each row, so cassandra.sh can
 * check readiness without cqlsh. It uses the DataStax Java driver 3.x that cassandra-all
 * ships for its own tools, so it needs no download of its own.
 *
 * <p>Usage: {@code java -cp <cassandra classpath> CqlPing.java HOST PORT [STATEMENT]}. The
 * statement defaults to a query of the node's release version. Exits non-zero when the node
 * cannot be reached or the statement fails.
 */
public class CqlPing {
  private static final String DEFAULT_STATEMENT = "SELECT release_version FROM system.local";

  public static void main(String[] args) {
    if (args.length < 2 || args.length > 3) {
      System.err.println("usage: CqlPing HOST PORT [STATEMENT]");
      System.exit(2);
    }
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    String statement = args.length == 3 ? args[2] : DEFAULT_STATEMENT;

    SocketOptions socketOptions =
        new SocketOptions().setConnectTimeoutMillis(5_000).setReadTimeoutMillis(20_000);
    // JMX reporting is off because its reporter class left the core jar in Dropwizard Metrics 4,
    // the version on cassandra-all's classpath. A one-shot check needs no metrics either.
    try (Cluster cluster =
            Cluster.builder()
                .addContactPoint(host)
                .withPort(port)
                .withSocketOptions(socketOptions)
                .withoutMetrics()
                .withoutJMXReporting()
                .build();
        Session session = cluster.connect()) {
      ResultSet rows = session.execute(statement);
      for (Row row : rows) {
        System.out.println(formatRow(row));
      }
    }
  }

  private static String formatRow(Row row) {
    StringBuilder line = new StringBuilder();
    for (int i = 0; i < row.getColumnDefinitions().size(); i++) {
      if (i > 0) {
        line.append(" | ");
      }
      line.append(row.getObject(i));
    }
    return line.toString();
  }
}
