"""Admin tools under /manage/: responsibility matrix, staff, coverage, routing check, import/export.

Every view is wrapped in `admin_required`: anonymous users go to the login page, signed-in
users who are not admins get 403.
"""
