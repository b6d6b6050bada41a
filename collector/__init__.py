"""VPCTracker: org-wide AWS VPC inventory."""
