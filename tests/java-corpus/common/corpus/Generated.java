package corpus;

import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;

/** Any annotation whose simple name contains "Generated" hides code from coverage. */
@Retention(RetentionPolicy.CLASS)
public @interface Generated {
}
