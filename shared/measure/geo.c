/* Great-circle distance for the proximity policy: the haversine formula on a
 * sphere of the mean Earth radius (IUGG R1 = 6371.0088 km). The spherical
 * model is within about 0.5 % of the ellipsoid, far finer than the
 * difference between two sites that matters to the policy.
 *
 * Decisions: longitudes need not be normalised (haversine only uses the sine
 * of half the difference, so 179.5 and -179.5 are 1 degree apart across the
 * date line, and 190 is the same as -170); the haversine term is clamped to
 * [0, 1] so that rounding near the antipodes never gives asin(>1) = NaN; a
 * NaN coordinate gives NaN (the policy sorts NaN distances last).
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/geo.h"

#include <math.h>

#define EARTH_RADIUS_KM 6371.0088
#define DEG_TO_RAD (3.14159265358979323846 / 180.0)

double glb_geo_distance_km(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * DEG_TO_RAD, p2 = lat2 * DEG_TO_RAD;
    double s_dlat = sin((lat2 - lat1) * DEG_TO_RAD / 2);
    double s_dlon = sin((lon2 - lon1) * DEG_TO_RAD / 2);
    double a = s_dlat * s_dlat + cos(p1) * cos(p2) * s_dlon * s_dlon;
    if (isnan(a))
        return a;
    if (a < 0)
        a = 0;
    else if (a > 1)
        a = 1;
    return 2 * EARTH_RADIUS_KM * asin(sqrt(a));
}
