"""codeprm.labels"""
