/* Great-circle distance for the proximity policy.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_GEO_H
#define MEASURE_GEO_H

/* Distance in kilometres between two points given in degrees (haversine on
 * a sphere of radius 6371.0088 km, the mean Earth radius). */
double glb_geo_distance_km(double lat1, double lon1, double lat2, double lon2);

#endif
