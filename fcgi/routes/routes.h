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

/* routes_approvals.c */
void route_approval_create(http_req *r);
void route_approval_list(http_req *r);
void route_approval_events(http_req *r);
void route_approval_get(http_req *r);
void route_approval_approve(http_req *r);
void route_approval_reject(http_req *r);

/* routes_storefront.c */
void route_storefront_get(http_req *r);
void route_storefront_draft_get(http_req *r);
void route_storefront_draft_put(http_req *r);
void route_storefront_draft_patch(http_req *r);
void route_storefront_publish(http_req *r);
void route_storefront_discard(http_req *r);
void route_storefront_versions(http_req *r);
void route_storefront_version_get(http_req *r);

/* routes_reports.c */
void route_report_create(http_req *r);
void route_report_get(http_req *r);
void route_report_patch(http_req *r);
void route_report_chat_append(http_req *r);
void route_report_chat_read(http_req *r);

/* routes_bids.c */
void route_bid_create(http_req *r);
void route_bid_list(http_req *r);
void route_bid_get(http_req *r);
void route_bid_patch(http_req *r);
void route_bid_archive(http_req *r);
void route_bid_evaluations(http_req *r);

/* routes_evaluate.c */
void route_bid_evaluate(http_req *r);

#endif
