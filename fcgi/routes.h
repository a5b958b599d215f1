/*
 * routes.h -- every route handler, one file of routes per resource.
 */
#ifndef OPTIMIST_ROUTES_H
#define OPTIMIST_ROUTES_H

#include "http.h"

/* routes_health.c */
void route_healthz(http_req *r);
void route_metrics(http_req *r);

/* routes_sessions.c */
void route_session_create(http_req *r);
void route_session_get(http_req *r);
void route_session_append(http_req *r);
void route_session_delete(http_req *r);

/* routes_reports.c */
void route_report_create(http_req *r);
void route_report_get(http_req *r);
void route_report_patch(http_req *r);
void route_report_chat_append(http_req *r);
void route_report_chat_read(http_req *r);

#endif
